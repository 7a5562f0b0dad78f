//! Domain values to and from columns: instants as INTEGER milliseconds, enums as their serde
//! names, nested records as the domain's own JSON. Reading back goes through the domain's
//! constructors, so a bad stored value is [`StoreError::Corrupt`], never a panic.

use praan_core::{
    domain::{DeviceId, FanSpeed, Timestamp},
    store::{StoreError, StoreResult},
};
use serde::{Serialize, de::DeserializeOwned};
use sqlx::{Decode, Row, Type, sqlite::SqliteRow};

use crate::error::{corrupt, encode};

/// An instant as stored.
pub(crate) const fn ms(t: Timestamp) -> i64 {
    t.unix_millis()
}

/// An optional instant as stored.
pub(crate) fn opt_ms(t: Option<Timestamp>) -> Option<i64> {
    t.map(Timestamp::unix_millis)
}

/// One column of `row`, or `Corrupt` naming it.
pub(crate) fn get<'r, T>(row: &'r SqliteRow, column: &'static str) -> StoreResult<T>
where
    T: Decode<'r, sqlx::Sqlite> + Type<sqlx::Sqlite>,
{
    row.try_get(column)
        .map_err(|e| corrupt(format!("decoding column {column}"), e))
}

/// An instant column.
pub(crate) fn get_ts(row: &SqliteRow, column: &'static str) -> StoreResult<Timestamp> {
    let v: i64 = get(row, column)?;
    Timestamp::from_unix_millis(v).map_err(|e| corrupt(format!("decoding column {column}"), e))
}

/// An optional instant column.
pub(crate) fn get_opt_ts(row: &SqliteRow, column: &'static str) -> StoreResult<Option<Timestamp>> {
    let v: Option<i64> = get(row, column)?;
    v.map(Timestamp::from_unix_millis)
        .transpose()
        .map_err(|e| corrupt(format!("decoding column {column}"), e))
}

/// A device id column.
pub(crate) fn get_device_id(row: &SqliteRow, column: &'static str) -> StoreResult<DeviceId> {
    let v: String = get(row, column)?;
    DeviceId::try_from(v).map_err(|e| corrupt(format!("decoding column {column}"), e))
}

/// A fan speed column (0–5).
pub(crate) fn get_speed(row: &SqliteRow, column: &'static str) -> StoreResult<FanSpeed> {
    let v: i64 = get(row, column)?;
    u8::try_from(v)
        .map_err(|e| corrupt(format!("decoding column {column}"), e))
        .and_then(|n| FanSpeed::new(n).map_err(|e| corrupt(format!("decoding column {column}"), e)))
}

/// A column holding a value of a type that parses from text through serde (ids, labels, keys).
pub(crate) fn get_parsed<T: DeserializeOwned>(
    row: &SqliteRow,
    column: &'static str,
) -> StoreResult<T> {
    let v: String = get(row, column)?;
    parse_text(v, column)
}

/// An optional column of a type that parses from text through serde.
pub(crate) fn get_opt_parsed<T: DeserializeOwned>(
    row: &SqliteRow,
    column: &'static str,
) -> StoreResult<Option<T>> {
    let v: Option<String> = get(row, column)?;
    v.map(|s| parse_text(s, column)).transpose()
}

/// A JSON column.
pub(crate) fn get_json<T: DeserializeOwned>(
    row: &SqliteRow,
    column: &'static str,
) -> StoreResult<T> {
    let v: String = get(row, column)?;
    from_json(&v, column)
}

/// An optional JSON column.
pub(crate) fn get_opt_json<T: DeserializeOwned>(
    row: &SqliteRow,
    column: &'static str,
) -> StoreResult<Option<T>> {
    let v: Option<String> = get(row, column)?;
    v.map(|s| from_json(&s, column)).transpose()
}

/// The text a value serialises to as a JSON string: an enum's serde name, an id, a label.
pub(crate) fn text<T: Serialize>(value: &T) -> StoreResult<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        Ok(other) => Err(encode(
            "encoding a value as text",
            format!("expected a string, got {other}"),
        )),
        Err(e) => Err(encode("encoding a value as text", e)),
    }
}

/// The value a column's text parses to (the inverse of [`text`]).
pub(crate) fn parse_text<T: DeserializeOwned>(s: String, column: &'static str) -> StoreResult<T> {
    serde_json::from_value(serde_json::Value::String(s))
        .map_err(|e| corrupt(format!("decoding column {column}"), e))
}

/// A nested record as JSON text.
pub(crate) fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| encode("encoding a record as JSON", e))
}

/// A nested record from JSON text.
pub(crate) fn from_json<T: DeserializeOwned>(s: &str, column: &'static str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| corrupt(format!("decoding column {column}"), e))
}

/// An optional nested record as JSON text.
pub(crate) fn opt_json<T: Serialize>(value: Option<&T>) -> StoreResult<Option<String>> {
    value.map(to_json).transpose()
}

/// `Corrupt` for a row whose columns do not make a valid record.
pub(crate) fn invalid_row(
    what: &'static str,
    source: impl Into<praan_core::store::BoxError>,
) -> StoreError {
    corrupt(format!("decoding a stored {what}"), source)
}

#[cfg(test)]
mod tests {
    use praan_core::domain::{CommandStatus, PreCleanStatus};

    use super::*;

    /// The partial indexes of the schema name statuses by these texts.
    #[test]
    fn statuses_are_stored_as_the_schema_expects() {
        assert_eq!(text(&CommandStatus::Pending).unwrap(), "pending");
        assert_eq!(text(&CommandStatus::Sent).unwrap(), "sent");
        assert_eq!(text(&PreCleanStatus::Active).unwrap(), "active");
        let back: CommandStatus = parse_text("timeout".into(), "status").unwrap();
        assert_eq!(back, CommandStatus::Timeout);
        assert!(matches!(
            parse_text::<CommandStatus>("lost".into(), "status"),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
