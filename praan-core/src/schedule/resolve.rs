//! Wall-clock time → instant, with praan's DST policy.

use chrono::{LocalResult, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

use crate::domain::Timestamp;

/// The instant at which local wall-clock time `local` happens in `tz`:
/// the instant itself when it exists once; the **first** occurrence when it is ambiguous (fall
/// back); and the **first valid instant after the gap** when it does not exist (spring forward).
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> Timestamp {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(dt) => Timestamp::from(dt.with_timezone(&chrono::Utc)),
        LocalResult::Ambiguous(first, _) => Timestamp::from(first.with_timezone(&chrono::Utc)),
        LocalResult::None => {
            // Every gap in the tz database ends on a whole minute and lasts at most a few hours:
            // the first wall-clock minute that exists again is the transition instant.
            let base = local
                .date()
                .and_hms_opt(
                    chrono::Timelike::hour(&local),
                    chrono::Timelike::minute(&local),
                    0,
                )
                .unwrap_or(local);
            (1..=24 * 60)
                .map(|m| base + chrono::Duration::minutes(m))
                .find_map(|t| tz.from_local_datetime(&t).earliest())
                .map(|dt| Timestamp::from(dt.with_timezone(&chrono::Utc)))
                // Unreachable with real zones; fall back to reading the wall time as UTC.
                .unwrap_or_else(|| Timestamp::from(local.and_utc()))
        }
    }
}
