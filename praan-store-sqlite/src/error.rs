//! sqlx and SQLite errors mapped onto [`StoreError`], always with what the store was doing.
//!
//! | SQLite / sqlx | `StoreError` |
//! |---|---|
//! | `SQLITE_CONSTRAINT_PRIMARYKEY` / `_UNIQUE` on a write that names its record | `Conflict` |
//! | `SQLITE_BUSY`, `SQLITE_LOCKED`, pool timeout, closed pool, crashed worker, I/O | `Unavailable` |
//! | `SQLITE_READONLY`, `SQLITE_FULL` (disk or `max_page_count` full), `SQLITE_PERM`, `SQLITE_CANTOPEN`, `SQLITE_AUTH` | `ReadOnly` |
//! | `SQLITE_CORRUPT`, `SQLITE_NOTADB`, a column that does not decode, a record praan cannot read | `Corrupt` |
//! | anything else (bad URL, failed migration, `SQLITE_IOERR`, …) | `Backend` |

use std::borrow::Cow;

use praan_core::store::{BoxError, StoreError};
use sqlx::migrate::MigrateError;

/// What went wrong, coarsely: which [`StoreError`] variant an error becomes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Unique,
    Unavailable,
    ReadOnly,
    Corrupt,
    Backend,
}

// SQLite primary result codes (https://www.sqlite.org/rescode.html).
const SQLITE_PERM: i32 = 3;
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_READONLY: i32 = 8;
const SQLITE_CORRUPT: i32 = 11;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_CONSTRAINT: i32 = 19;
const SQLITE_AUTH: i32 = 23;
const SQLITE_NOTADB: i32 = 26;
// Extended codes of SQLITE_CONSTRAINT that mean "a uniqueness rule".
const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = SQLITE_CONSTRAINT | (6 << 8);
const SQLITE_CONSTRAINT_UNIQUE: i32 = SQLITE_CONSTRAINT | (8 << 8);

/// The SQLite extended result code of a database error, if it has one.
fn sqlite_code(err: &sqlx::Error) -> Option<i32> {
    match err {
        sqlx::Error::Database(db) => db.code().and_then(|c| c.parse::<i32>().ok()),
        _ => None,
    }
}

fn classify(err: &sqlx::Error) -> Class {
    match err {
        sqlx::Error::Database(_) => match sqlite_code(err) {
            Some(SQLITE_CONSTRAINT_PRIMARYKEY | SQLITE_CONSTRAINT_UNIQUE) => Class::Unique,
            Some(code) => match code & 0xff {
                SQLITE_BUSY | SQLITE_LOCKED => Class::Unavailable,
                SQLITE_READONLY | SQLITE_FULL | SQLITE_PERM | SQLITE_CANTOPEN | SQLITE_AUTH => {
                    Class::ReadOnly
                }
                SQLITE_CORRUPT | SQLITE_NOTADB => Class::Corrupt,
                _ => Class::Backend,
            },
            None => Class::Backend,
        },
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_) => Class::Unavailable,
        sqlx::Error::Decode(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::Protocol(_) => Class::Corrupt,
        sqlx::Error::Migrate(m) => match m.as_ref() {
            MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _) => {
                match classify(inner) {
                    Class::Unique => Class::Backend,
                    other => other,
                }
            }
            // An applied migration that was changed since, or one that failed half-way.
            MigrateError::VersionMismatch(_) | MigrateError::Dirty(_) => Class::Corrupt,
            _ => Class::Backend,
        },
        _ => Class::Backend,
    }
}

fn build(class: Class, context: Cow<'static, str>, source: BoxError) -> StoreError {
    match class {
        Class::Unavailable => StoreError::Unavailable { context, source },
        Class::ReadOnly => StoreError::ReadOnly { context, source },
        Class::Corrupt => StoreError::Corrupt { context, source },
        Class::Unique | Class::Backend => StoreError::Backend { context, source },
    }
}

/// Maps a sqlx error that happened while `context` (e.g. "reading a device").
pub(crate) fn db(context: impl Into<Cow<'static, str>>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let context = context.into();
    move |err| build(classify(&err), context, Box::new(err))
}

/// Maps a sqlx error of a write of `entity` `id`: a uniqueness violation becomes
/// [`StoreError::Conflict`] naming the rule (from the constraint SQLite reports), anything else as
/// [`db`].
pub(crate) fn write(
    entity: &'static str,
    id: impl ToString,
    context: impl Into<Cow<'static, str>>,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    let id = id.to_string();
    let context = context.into();
    move |err| match classify(&err) {
        Class::Unique => StoreError::conflict(entity, id, unique_rule(&err)),
        class => build(class, context, Box::new(err)),
    }
}

/// The rule a uniqueness violation broke, in words, from SQLite's message
/// (`UNIQUE constraint failed: commands.device_id, commands.idempotency_key`).
fn unique_rule(err: &sqlx::Error) -> &'static str {
    let message = match err {
        sqlx::Error::Database(db) => db.message(),
        _ => "",
    };
    if message.contains("idempotency_key") {
        "idempotency key already used for this device"
    } else if message.contains("pre_cleans.device_id") {
        "the device already has an active pre-clean"
    } else if message.contains("devices.device_id") {
        "already registered"
    } else {
        "id already used"
    }
}

/// A stored value praan cannot read back (a column out of its domain, JSON that does not parse).
pub(crate) fn corrupt(
    context: impl Into<Cow<'static, str>>,
    source: impl Into<BoxError>,
) -> StoreError {
    StoreError::Corrupt {
        context: context.into(),
        source: source.into(),
    }
}

/// A value praan could not encode for storage (never expected: the domain's serde is total).
pub(crate) fn encode(
    context: impl Into<Cow<'static, str>>,
    source: impl Into<BoxError>,
) -> StoreError {
    StoreError::Backend {
        context: context.into(),
        source: source.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_decode_errors_map_by_kind() {
        let unavailable = db("acquiring")(sqlx::Error::PoolTimedOut);
        assert!(
            matches!(unavailable, StoreError::Unavailable { .. }),
            "{unavailable:?}"
        );
        assert!(unavailable.is_transient());
        let corrupt = db("decoding")(sqlx::Error::ColumnNotFound("x".into()));
        assert!(matches!(corrupt, StoreError::Corrupt { .. }), "{corrupt:?}");
        let other = db("configuring")(sqlx::Error::Configuration("bad".into()));
        assert!(matches!(other, StoreError::Backend { .. }), "{other:?}");
        assert!(other.to_string().contains("configuring"), "{other}");
    }

    #[test]
    fn extended_constraint_codes_are_built_from_the_primary_code() {
        assert_eq!(SQLITE_CONSTRAINT_PRIMARYKEY, 1555);
        assert_eq!(SQLITE_CONSTRAINT_UNIQUE, 2067);
    }
}
