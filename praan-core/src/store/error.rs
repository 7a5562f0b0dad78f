//! [`StoreError`]: what every storage backend returns.

use std::borrow::Cow;

/// A boxed error from a backend's own driver, kept as the source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A storage failure. Backends map their native errors onto these variants (a unique-key
/// violation is [`StoreError::Conflict`], a lost connection or a busy database is
/// [`StoreError::Unavailable`]); the driver's error is kept as the source, never exposed as a type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record to update or delete does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// What kind of record (`device`, `command`, …).
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// The write contradicts a uniqueness rule (same id, same idempotency key, a second active
    /// pre-clean for a device, …).
    #[error("{entity} {id} conflicts with an existing record: {reason}")]
    Conflict {
        /// What kind of record.
        entity: &'static str,
        /// Its id.
        id: String,
        /// Which rule.
        reason: Cow<'static, str>,
    },
    /// The backend cannot be reached or is busy (connection refused, timeout, locked database):
    /// retrying later may succeed.
    #[error("store unavailable while {context}")]
    Unavailable {
        /// What praan was doing.
        context: Cow<'static, str>,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// The backend refuses writes for a reason retrying will not fix soon (read-only file, full
    /// disk, no permission).
    #[error("store refuses writes while {context}")]
    ReadOnly {
        /// What praan was doing.
        context: Cow<'static, str>,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// Stored data could not be decoded (corrupt file, or a record no version of praan wrote).
    #[error("stored data is corrupt while {context}")]
    Corrupt {
        /// What praan was doing.
        context: Cow<'static, str>,
        /// What was wrong.
        #[source]
        source: BoxError,
    },
    /// Any other backend failure.
    #[error("store failed while {context}")]
    Backend {
        /// What praan was doing.
        context: Cow<'static, str>,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// A [`StoreError::NotFound`].
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// A [`StoreError::Conflict`].
    pub fn conflict(
        entity: &'static str,
        id: impl ToString,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::Conflict {
            entity,
            id: id.to_string(),
            reason: reason.into(),
        }
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// The result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;
