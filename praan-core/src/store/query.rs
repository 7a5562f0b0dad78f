//! Query parameters and results shared by every backend: paging, ranges, statistics, retention.

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};

use crate::domain::{CommandStatus, DeviceStatus, PerMetric, Timestamp, ValidationError};

/// The default number of readings per page.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// The largest number of readings per page.
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// A page size, 1–1000 (default 100).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Limit(u32);

impl Limit {
    /// `n`, if it is 1–1000.
    pub fn new(n: u32) -> Result<Self, ValidationError> {
        if (1..=MAX_PAGE_LIMIT).contains(&n) {
            Ok(Self(n))
        } else {
            Err(ValidationError::new(
                "limit",
                "must be an integer from 1 to 1000",
            ))
        }
    }

    /// The size.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(DEFAULT_PAGE_LIMIT)
    }
}

impl TryFrom<u32> for Limit {
    type Error = ValidationError;
    fn try_from(n: u32) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl From<Limit> for u32 {
    fn from(l: Limit) -> Self {
        l.0
    }
}

/// Where the next page of readings starts: opaque to clients (`r1.<unix ms>`), it names the last
/// timestamp returned, and the next page holds strictly older readings.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Cursor {
    before: Timestamp,
}

impl Cursor {
    /// The cursor after a page whose oldest reading has `timestamp`.
    pub const fn before(timestamp: Timestamp) -> Self {
        Self { before: timestamp }
    }

    /// The next page holds readings strictly older than this.
    pub const fn timestamp(self) -> Timestamp {
        self.before
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r1.{}", self.before.unix_millis())
    }
}

impl FromStr for Cursor {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix("r1.")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
            .and_then(|n| n.parse::<i64>().ok())
            .and_then(|ms| Timestamp::from_unix_millis(ms).ok())
            .map(Self::before)
            .ok_or_else(|| ValidationError::new("cursor", "is not a cursor this API returned"))
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A half-open time range `[start, end)`; either side may be open.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TimeRange {
    /// Inclusive lower bound.
    pub start: Option<Timestamp>,
    /// Exclusive upper bound.
    pub end: Option<Timestamp>,
}

impl TimeRange {
    /// `[start, end)`, if `start < end`.
    pub fn new(start: Option<Timestamp>, end: Option<Timestamp>) -> Result<Self, ValidationError> {
        if let (Some(s), Some(e)) = (start, end)
            && s >= e
        {
            return Err(ValidationError::new("endDate", "must be after startDate"));
        }
        Ok(Self { start, end })
    }

    /// Whether `t` is in the range.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t < e)
    }
}

/// A range query over one device's readings, newest first.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ReadingQuery {
    /// The range of device timestamps.
    pub range: TimeRange,
    /// Page size.
    pub limit: Limit,
    /// Continue after a previous page.
    pub cursor: Option<Cursor>,
}

/// One page of results, newest first, and where the next starts.
#[derive(Clone, PartialEq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass this as the cursor to get the next page; `None` when this was the last.
    pub next_cursor: Option<Cursor>,
}

/// The widest bucket: 31 days.
pub const MAX_BUCKET: Duration = Duration::from_secs(31 * 24 * 60 * 60);

/// The width of statistics buckets: `5m`, `1h`, `1d`, … (a whole number of seconds, 1 s to 31 d).
/// Buckets are aligned to the Unix epoch in UTC (a `1d` bucket runs midnight to midnight UTC).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct BucketWidth(Duration);

impl BucketWidth {
    /// `d`, if it is a whole number of seconds from 1 s to 31 days.
    pub fn new(d: Duration) -> Result<Self, ValidationError> {
        if d.subsec_nanos() != 0 || d < Duration::from_secs(1) || d > MAX_BUCKET {
            return Err(ValidationError::new(
                "bucket",
                "must be a whole number of seconds from 1s to 31d (e.g. 5m, 1h, 1d)",
            ));
        }
        Ok(Self(d))
    }

    /// The width.
    pub const fn duration(self) -> Duration {
        self.0
    }

    /// The width in milliseconds.
    pub const fn millis(self) -> i64 {
        self.0.as_secs() as i64 * 1000
    }

    /// The start of the bucket holding `t`.
    pub fn bucket_start(self, t: Timestamp) -> Timestamp {
        let w = self.millis();
        Timestamp::from_unix_millis(t.unix_millis().div_euclid(w) * w).unwrap_or(t)
    }
}

impl FromStr for BucketWidth {
    type Err = ValidationError;
    /// `<n><unit>` with unit `s`, `m`, `h` or `d`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ValidationError::new("bucket", "must look like 30s, 5m, 1h or 1d");
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (n, unit) = s.split_at(split);
        let n: u64 = n.parse().map_err(|_| err())?;
        let secs = match unit {
            "s" => Some(n),
            "m" => n.checked_mul(60),
            "h" => n.checked_mul(3600),
            "d" => n.checked_mul(86_400),
            _ => None,
        }
        .ok_or_else(err)?;
        Self::new(Duration::from_secs(secs))
    }
}

impl fmt::Display for BucketWidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_secs();
        match s {
            s if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            s if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            s if s % 60 == 0 => write!(f, "{}m", s / 60),
            s => write!(f, "{s}s"),
        }
    }
}

/// A statistics query over one device's readings in `[start, end)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct StatsQuery {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
    /// Also return a series of buckets of this width.
    pub bucket: Option<BucketWidth>,
}

/// Aggregates of one metric. `min`, `max` and `avg` are `None` when `count` is 0.
#[derive(Clone, Copy, PartialEq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricStats {
    /// Readings that carried the metric.
    pub count: u64,
    /// Smallest value.
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Mean value.
    pub avg: Option<f64>,
}

/// Aggregates of one bucket.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketStats {
    /// The bucket's start (aligned to its width).
    pub start: Timestamp,
    /// Readings in the bucket.
    pub count: u64,
    /// Per metric.
    pub metrics: PerMetric<MetricStats>,
}

/// Statistics over a range: overall per metric, and optionally per bucket (only non-empty
/// buckets, oldest first).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statistics {
    /// Inclusive start of the range.
    pub start: Timestamp,
    /// Exclusive end of the range.
    pub end: Timestamp,
    /// Readings in the range.
    pub count: u64,
    /// Per metric over the whole range.
    pub metrics: PerMetric<MetricStats>,
    /// The series, when a bucket width was asked for.
    pub buckets: Option<Vec<BucketStats>>,
}

/// What an append did.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppendOutcome {
    /// Readings stored now.
    pub inserted: u64,
    /// Readings already stored (same device and timestamp), skipped.
    pub duplicates: u64,
}

/// Which devices to list.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DeviceFilter {
    /// Only this status.
    pub status: Option<DeviceStatus>,
    /// Only this type.
    pub device_type: Option<String>,
}

/// Which commands of a device to list (newest first).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CommandFilter {
    /// Only this status.
    pub status: Option<CommandStatus>,
    /// At most this many.
    pub limit: Limit,
}

/// Delete records older than these instants (`None`: keep that kind).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct RetentionCutoffs {
    /// Readings whose device timestamp is before this.
    pub readings_before: Option<Timestamp>,
    /// Terminal commands created before this (unfinished ones are never purged), and pre-cleans
    /// that ended before this.
    pub commands_before: Option<Timestamp>,
    /// Schedule runs before this.
    pub runs_before: Option<Timestamp>,
}

/// What one purge call deleted.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurgeOutcome {
    /// Readings deleted.
    pub readings: u64,
    /// Commands deleted.
    pub commands: u64,
    /// Pre-cleans deleted.
    pub pre_cleans: u64,
    /// Schedule runs deleted.
    pub runs: u64,
}

impl PurgeOutcome {
    /// Records deleted in all.
    pub fn total(&self) -> u64 {
        self.readings + self.commands + self.pre_cleans + self.runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors() {
        assert!(Limit::new(0).is_err());
        assert!(Limit::new(1001).is_err());
        assert_eq!(Limit::default().get(), 100);
        let c = Cursor::before(Timestamp::from_unix_millis(1_766_829_600_000).unwrap());
        assert_eq!(c.to_string(), "r1.1766829600000");
        assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        for bad in [
            "",
            "r1.",
            "r2.5",
            "1766829600000",
            "r1.1e3",
            "r1.99999999999999999999",
        ] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bucket_widths_parse_and_align() {
        let b: BucketWidth = "5m".parse().unwrap();
        assert_eq!(b.duration(), Duration::from_secs(300));
        assert_eq!(b.to_string(), "5m");
        assert_eq!("1d".parse::<BucketWidth>().unwrap().to_string(), "1d");
        for bad in ["", "5", "m", "0m", "5w", "-5m", "32d", "1.5h", "5 m"] {
            assert!(bad.parse::<BucketWidth>().is_err(), "{bad:?}");
        }
        let t = Timestamp::from_unix_millis(3_600_000 + 299_999).unwrap();
        assert_eq!(b.bucket_start(t).unix_millis(), 3_600_000);
        let before = Timestamp::from_unix_millis(-1).unwrap();
        assert_eq!(b.bucket_start(before).unix_millis(), -300_000);
    }

    #[test]
    fn ranges_are_half_open() {
        let t = |ms| Timestamp::from_unix_millis(ms).unwrap();
        let r = TimeRange::new(Some(t(10)), Some(t(20))).unwrap();
        assert!(r.contains(t(10)) && r.contains(t(19)) && !r.contains(t(20)) && !r.contains(t(9)));
        assert!(TimeRange::new(Some(t(20)), Some(t(20))).is_err());
        assert!(TimeRange::default().contains(t(0)));
    }
}
