//! [`Timestamp`]: an instant with millisecond precision, the only time type praan stores.

use std::{fmt, str::FromStr, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ValidationError;

/// An instant in UTC, truncated to whole milliseconds (the precision of BSON datetimes, of SQLite's
/// INTEGER columns and of the wire protocol), so a stored value always reads back equal.
///
/// On the wire and in JSON it is an RFC 3339 string with milliseconds and `Z`:
/// `2025-12-27T10:00:00.000Z`. Any RFC 3339 offset is accepted on input. The default is the epoch.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const UNIX_EPOCH: Self = Self(0);

    /// The instant `ms` milliseconds after the Unix epoch, if chrono can represent it.
    pub fn from_unix_millis(ms: i64) -> Result<Self, ValidationError> {
        match DateTime::<Utc>::from_timestamp_millis(ms) {
            Some(_) => Ok(Self(ms)),
            None => Err(ValidationError::new(
                "timestamp",
                "is outside the representable range",
            )),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// The same instant as a chrono datetime.
    pub fn to_datetime(self) -> DateTime<Utc> {
        // Every Timestamp was built from a representable DateTime or checked by from_unix_millis.
        DateTime::<Utc>::from_timestamp_millis(self.0).unwrap_or_default()
    }

    /// Parses RFC 3339 (any offset), truncating below the millisecond.
    pub fn parse_rfc3339(s: &str) -> Result<Self, ValidationError> {
        DateTime::parse_from_rfc3339(s)
            .map(|dt| Self::from(dt.with_timezone(&Utc)))
            .map_err(|e| ValidationError::new("timestamp", format!("is not RFC 3339 ({e})")))
    }

    /// RFC 3339 in UTC with exactly three fractional digits.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// `self + d`, or `None` past the representable range.
    pub fn checked_add(self, d: Duration) -> Option<Self> {
        let ms = i64::try_from(d.as_millis()).ok()?;
        Self::from_unix_millis(self.0.checked_add(ms)?).ok()
    }

    /// `self - d`, or `None` before the representable range.
    pub fn checked_sub(self, d: Duration) -> Option<Self> {
        let ms = i64::try_from(d.as_millis()).ok()?;
        Self::from_unix_millis(self.0.checked_sub(ms)?).ok()
    }

    /// `self + d`, clamped to the representable range.
    pub fn saturating_add(self, d: Duration) -> Self {
        self.checked_add(d).unwrap_or(Self::MAX)
    }

    /// `self - d`, clamped to the representable range.
    pub fn saturating_sub(self, d: Duration) -> Self {
        self.checked_sub(d).unwrap_or(Self::MIN)
    }

    /// How long after `earlier` this is; zero if it is not after it.
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// The earliest representable instant.
    pub const MIN: Self = Self(DateTime::<Utc>::MIN_UTC.timestamp_millis());
    /// The latest representable instant.
    pub const MAX: Self = Self(DateTime::<Utc>::MAX_UTC.timestamp_millis());
}

impl From<DateTime<Utc>> for Timestamp {
    /// Truncates to the millisecond (towards the past, also before 1970).
    fn from(dt: DateTime<Utc>) -> Self {
        Self(dt.timestamp_millis())
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(ts: Timestamp) -> Self {
        ts.to_datetime()
    }
}

impl FromStr for Timestamp {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_rfc3339(s)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn truncates_to_milliseconds_also_before_the_epoch() {
        let dt = Utc.timestamp_opt(1_700_000_000, 123_999_999).unwrap();
        assert_eq!(Timestamp::from(dt).unix_millis(), 1_700_000_000_123);
        let before = Utc.timestamp_opt(-1, 999_999_999).unwrap();
        assert_eq!(Timestamp::from(before).unix_millis(), -1);
    }

    #[test]
    fn rfc3339_round_trip_with_millis_and_z() {
        let ts: Timestamp = "2025-12-27T15:30:00.120+05:30".parse().unwrap();
        assert_eq!(ts.to_rfc3339(), "2025-12-27T10:00:00.120Z");
        let json = serde_json::to_string(&ts).unwrap();
        assert_eq!(json, "\"2025-12-27T10:00:00.120Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), ts);
        assert!("2025-12-27 10:00".parse::<Timestamp>().is_err());
        assert!(serde_json::from_str::<Timestamp>("12").is_err());
    }

    #[test]
    fn arithmetic_saturates_at_the_range() {
        let t = Timestamp::from_unix_millis(1_000).unwrap();
        assert_eq!(
            t.checked_add(Duration::from_millis(5))
                .unwrap()
                .unix_millis(),
            1_005
        );
        assert_eq!(t.saturating_add(Duration::MAX), Timestamp::MAX);
        assert_eq!(t.saturating_sub(Duration::MAX), Timestamp::MIN);
        assert_eq!(
            Timestamp::UNIX_EPOCH.saturating_duration_since(t),
            Duration::ZERO
        );
        assert!(Timestamp::from_unix_millis(i64::MAX).is_err());
    }
}
