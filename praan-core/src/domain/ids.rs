//! Record ids: UUID v7 (time-ordered), generated from an instant the caller passes in.

use std::{
    fmt,
    str::FromStr,
    sync::{Mutex, PoisonError},
};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Timestamp, ValidationError};

/// The last id's millisecond and its 10 bytes after the time part.
static LAST_V7: Mutex<Option<(u64, [u8; 10])>> = Mutex::new(None);

/// A UUID v7 for `at` (RFC 9562 §6.2, method 1 "fixed bit-length dedicated counter"): the first
/// id of a millisecond has random bits after the time part, with the top bit of the last 56
/// cleared as headroom; the next ids in the same millisecond add one to those 56 bits. So ids
/// generated in sequence by this process sort in the order they were made, even within a
/// millisecond (list orders such as "oldest first" are then well defined), and the time part is
/// always exactly `at`, whichever way the clock moves.
fn next_v7(at: Timestamp) -> Uuid {
    let ms = u64::try_from(at.unix_millis()).unwrap_or(0);
    let mut last = LAST_V7.lock().unwrap_or_else(PoisonError::into_inner);
    let bytes = match *last {
        Some((last_ms, mut bytes)) if last_ms == ms => {
            // Add one to the low 56 bits (bytes 3..10), carrying leftwards.
            for byte in bytes[3..].iter_mut().rev() {
                let (sum, carry) = byte.overflowing_add(1);
                *byte = sum;
                if !carry {
                    break;
                }
            }
            bytes
        }
        _ => {
            let ts = uuid::Timestamp::from_unix(
                uuid::NoContext,
                ms / 1_000,
                u32::try_from((ms % 1_000) * 1_000_000).unwrap_or(0),
            );
            let random = Uuid::new_v7(ts);
            let mut bytes = [0; 10];
            bytes.copy_from_slice(&random.as_bytes()[6..]);
            bytes[3] &= 0x7f;
            bytes
        }
    };
    *last = Some((ms, bytes));
    uuid::Builder::from_unix_timestamp_millis(ms, &bytes).into_uuid()
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Uuid);

        impl $name {
            /// A new UUID v7 id whose time part is `at`; the rest is random, except that ids
            /// made one after another in the same millisecond increase (a counter after the
            /// time part, RFC 9562 §6.2 method 1), so they sort in the order they were made.
            ///
            /// The instant is an input (from [`Clock::now`](crate::clock::Clock::now)), so ids
            /// sort by the simulated time in tests.
            pub fn generate(at: Timestamp) -> Self {
                Self(next_v7(at))
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// Parses the hyphenated UUID form (the only form praan writes).
            pub fn parse(s: &str) -> Result<Self, ValidationError> {
                // Only the 36-character hyphenated form: never braces, URNs or simple hex.
                if s.len() != 36 {
                    return Err(ValidationError::new($field, "must be a UUID (8-4-4-4-12 hex digits)"));
                }
                Uuid::try_parse(s)
                    .map(Self)
                    .map_err(|_| ValidationError::new($field, "must be a UUID (8-4-4-4-12 hex digits)"))
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0.hyphenated().to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }
    };
}

uuid_id!(
    /// A command's id: sent to the device in the command and echoed in its ack.
    CommandId,
    "commandId"
);
uuid_id!(
    /// A schedule's id.
    ScheduleId,
    "scheduleId"
);
uuid_id!(
    /// A pre-clean's id.
    PreCleanId,
    "preCleanId"
);
uuid_id!(
    /// A schedule run's id (one applied or masked boundary).
    RunId,
    "runId"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_v7_and_carry_the_given_time() {
        let at = Timestamp::from_unix_millis(1_766_829_600_123).unwrap();
        let id = CommandId::generate(at);
        assert_eq!(id.as_uuid().get_version_num(), 7);
        let (secs, nanos) = id.as_uuid().get_timestamp().unwrap().to_unix();
        assert_eq!(
            secs * 1_000 + u64::from(nanos / 1_000_000),
            1_766_829_600_123
        );
        let later = CommandId::generate(at.saturating_add(std::time::Duration::from_millis(1)));
        assert!(later > id, "v7 ids sort by time");
    }

    #[test]
    fn ids_made_in_the_same_millisecond_increase_and_keep_its_time() {
        let at = Timestamp::from_unix_millis(1_766_829_600_456).unwrap();
        let ids: Vec<ScheduleId> = (0..1_000).map(|_| ScheduleId::generate(at)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        for id in &ids {
            assert_eq!(id.as_uuid().get_version_num(), 7);
            let (secs, nanos) = id.as_uuid().get_timestamp().unwrap().to_unix();
            assert_eq!(
                secs * 1_000 + u64::from(nanos / 1_000_000),
                1_766_829_600_456
            );
        }
        // A clock that goes back still gets its own time part.
        let earlier = at.saturating_sub(std::time::Duration::from_secs(60));
        let back = ScheduleId::generate(earlier);
        assert!(back < ids[0]);
    }

    #[test]
    fn only_the_hyphenated_form_parses() {
        let id = CommandId::generate(Timestamp::UNIX_EPOCH);
        let text = id.to_string();
        assert_eq!(text.parse::<CommandId>().unwrap(), id);
        assert!(text.replace('-', "").parse::<CommandId>().is_err());
        assert!(format!("{{{text}}}").parse::<CommandId>().is_err());
        assert!("0193f1c2-...".parse::<CommandId>().is_err());
        let err = serde_json::from_str::<ScheduleId>("\"x\"").unwrap_err();
        assert!(err.to_string().contains("scheduleId"));
    }
}
