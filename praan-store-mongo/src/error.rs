//! Driver errors mapped onto [`StoreError`], always with what praan was doing.
//!
//! | Driver error | `StoreError` |
//! |---|---|
//! | duplicate key (E11000) | `Conflict`, naming the rule from the index name |
//! | no server selectable, connection refused or reset, I/O, pool cleared, network timeout, DNS; server codes for "not primary", shutdown, step-down, interrupted, time limit exceeded, write conflict, write-concern failure; errors labelled retryable | `Unavailable` (retrying later may succeed) |
//! | out of disk space | `ReadOnly` |
//! | authentication failed, not authorized | `Backend`, the context saying MongoDB refused the credentials |
//! | a document that does not decode | `Corrupt` |
//! | anything else | `Backend` |

use std::{borrow::Cow, fmt::Display};

use mongodb::error::{Error, ErrorKind, WriteFailure};
use praan_core::{
    domain::ValidationError,
    store::{BoxError, StoreError},
};

use crate::indexes;

/// MongoDB's duplicate key error code.
pub(crate) const DUPLICATE_KEY: i32 = 11000;

/// What kind of failure a driver error is.
#[derive(Debug, PartialEq, Eq)]
enum Class {
    /// A unique index refused the write; the index name, when the server said it.
    Duplicate(Option<String>),
    Unavailable,
    ReadOnly,
    Credentials,
    Corrupt,
    Other,
}

/// Server error codes after which retrying later may succeed.
const TRANSIENT_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    24,    // LockTimeout
    46,    // LockBusy
    50,    // MaxTimeMSExpired
    64,    // WriteConcernFailed
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    112,   // WriteConflict
    133,   // FailedToSatisfyReadPreference
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// `AuthenticationFailed`, `Unauthorized`.
const CREDENTIAL_CODES: &[i32] = &[18, 13];

/// `OutOfDiskSpace`.
const DISK_FULL_CODES: &[i32] = &[14031];

fn by_code(code: i32, message: &str) -> Class {
    if code == DUPLICATE_KEY {
        Class::Duplicate(index_name(message))
    } else if TRANSIENT_CODES.contains(&code) {
        Class::Unavailable
    } else if CREDENTIAL_CODES.contains(&code) {
        Class::Credentials
    } else if DISK_FULL_CODES.contains(&code) {
        Class::ReadOnly
    } else {
        Class::Other
    }
}

/// The index named in a duplicate key message (`E11000 duplicate key error collection: db.c
/// index: NAME dup key: …`).
fn index_name(message: &str) -> Option<String> {
    let rest = message.split_once(" index: ")?.1;
    let name = rest.split_whitespace().next()?;
    Some(name.to_owned())
}

fn classify(err: &Error) -> Class {
    if err.contains_label("RetryableWriteError") || err.contains_label("TransientTransactionError")
    {
        return Class::Unavailable;
    }
    match err.kind.as_ref() {
        ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::DnsResolve { .. } => Class::Unavailable,
        ErrorKind::Authentication { .. } => Class::Credentials,
        ErrorKind::BsonDeserialization(_) => Class::Corrupt,
        // Decoding a stored document (a serialization error is praan's, not the data's).
        ErrorKind::Bson(e) => match e.kind {
            mongodb::bson::error::ErrorKind::Serialization { .. } => Class::Other,
            _ => Class::Corrupt,
        },
        ErrorKind::Command(e) => by_code(e.code, &e.message),
        ErrorKind::Write(WriteFailure::WriteError(e)) => by_code(e.code, &e.message),
        ErrorKind::Write(WriteFailure::WriteConcernError(_)) => Class::Unavailable,
        ErrorKind::InsertMany(e) => match e.write_errors.as_deref() {
            Some([first, ..]) => by_code(first.code, &first.message),
            _ if e.write_concern_error.is_some() => Class::Unavailable,
            _ => Class::Other,
        },
        _ => Class::Other,
    }
}

/// The server's error code, for a command or single-write error.
pub(crate) fn code(err: &Error) -> Option<i32> {
    match err.kind.as_ref() {
        ErrorKind::Command(e) => Some(e.code),
        ErrorKind::Write(WriteFailure::WriteError(e)) => Some(e.code),
        _ => None,
    }
}

/// Whether the error is a unique index refusing a write.
pub(crate) fn is_duplicate_key(err: &Error) -> bool {
    matches!(classify(err), Class::Duplicate(_))
}

/// The uniqueness rule an index enforces, in words.
fn rule(index: Option<&str>) -> Cow<'static, str> {
    match index {
        Some("_id_") => "id already used".into(),
        Some(indexes::IDEMPOTENCY_KEY) => "idempotency key already used for this device".into(),
        Some(indexes::ONE_ACTIVE_PRE_CLEAN) => "the device already has an active pre-clean".into(),
        Some(indexes::READING_KEY) => "a reading of the device at that timestamp is stored".into(),
        Some(other) => format!("duplicate key in index {other}").into(),
        None => "duplicate key".into(),
    }
}

fn to_store_error(
    err: Error,
    context: Cow<'static, str>,
    conflict: impl FnOnce(Cow<'static, str>) -> StoreError,
) -> StoreError {
    match classify(&err) {
        Class::Duplicate(index) => conflict(rule(index.as_deref())),
        Class::Unavailable => StoreError::Unavailable {
            context,
            source: Box::new(err),
        },
        Class::ReadOnly => StoreError::ReadOnly {
            context,
            source: Box::new(err),
        },
        Class::Credentials => StoreError::Backend {
            context: format!("{context} (MongoDB refused the credentials or the permission)")
                .into(),
            source: Box::new(err),
        },
        Class::Corrupt => StoreError::Corrupt {
            context,
            source: Box::new(err),
        },
        Class::Other => StoreError::Backend {
            context,
            source: Box::new(err),
        },
    }
}

/// Maps a driver error of a write to one record: a duplicate key is a `Conflict` on that record.
pub(crate) fn on_record(
    err: Error,
    doing: &str,
    entity: &'static str,
    id: impl Display,
) -> StoreError {
    let id = id.to_string();
    let context = format!("{doing} {entity} {id}").into();
    to_store_error(err, context, |reason| {
        StoreError::conflict(entity, id, reason)
    })
}

/// Maps a driver error of an operation on no single record.
pub(crate) fn failed(err: Error, context: impl Into<Cow<'static, str>>) -> StoreError {
    let context = context.into();
    let id = context.to_string();
    to_store_error(err, context, |reason| {
        StoreError::conflict("record", id, reason)
    })
}

/// Maps one write error of a bulk command's `writeErrors` (a duplicate key is a `Conflict` on
/// the record the statement was for).
pub(crate) fn from_write_error(
    code: i32,
    message: &str,
    entity: &'static str,
    id: impl Display,
    doing: &str,
) -> StoreError {
    let id = id.to_string();
    let context: Cow<'static, str> = format!("{doing} {entity} {id}").into();
    let source = || -> BoxError { format!("write error {code}: {message}").into() };
    match by_code(code, message) {
        Class::Duplicate(index) => StoreError::conflict(entity, id, rule(index.as_deref())),
        Class::Unavailable => StoreError::Unavailable {
            context,
            source: source(),
        },
        Class::ReadOnly => StoreError::ReadOnly {
            context,
            source: source(),
        },
        Class::Credentials | Class::Corrupt | Class::Other => StoreError::Backend {
            context,
            source: source(),
        },
    }
}

/// A `writeConcernError` of a bulk command: the writes may not be durable yet.
pub(crate) fn write_concern(message: &str, context: impl Into<Cow<'static, str>>) -> StoreError {
    StoreError::Unavailable {
        context: context.into(),
        source: format!("write concern not satisfied: {message}").into(),
    }
}

/// A stored document that does not make a valid domain value.
pub(crate) fn corrupt(err: ValidationError, context: impl Into<Cow<'static, str>>) -> StoreError {
    StoreError::Corrupt {
        context: context.into(),
        source: Box::new(err),
    }
}

/// A value that does not encode as BSON (never expected: every record is plain data).
pub(crate) fn encode(
    err: mongodb::bson::error::Error,
    context: impl Into<Cow<'static, str>>,
) -> StoreError {
    StoreError::Backend {
        context: context.into(),
        source: Box::new(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_come_from_duplicate_key_messages() {
        let msg = "E11000 duplicate key error collection: t.commands index: \
                   one_idempotency_key_per_device dup key: { deviceId: \"d\", idempotencyKey: \"k\" }";
        assert_eq!(
            index_name(msg).as_deref(),
            Some("one_idempotency_key_per_device")
        );
        assert_eq!(by_code(DUPLICATE_KEY, "E11000 no index named"), {
            Class::Duplicate(None)
        });
        assert_eq!(by_code(10107, "not primary"), Class::Unavailable);
        assert_eq!(by_code(18, "Authentication failed"), Class::Credentials);
        assert_eq!(by_code(2, "BadValue"), Class::Other);
        assert_eq!(
            rule(Some(indexes::IDEMPOTENCY_KEY)),
            "idempotency key already used for this device"
        );
    }
}
