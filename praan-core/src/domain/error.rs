//! The one error every domain constructor returns.

use std::borrow::Cow;

/// A value that does not satisfy its type's rules, with the field it came from and why.
///
/// The HTTP layer turns it into a 400 naming the field; the codec turns it into a rejection reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// The field (camelCase, as on the wire) whose value was refused.
    pub field: Cow<'static, str>,
    /// Why, in words a client developer understands.
    pub reason: String,
}

impl ValidationError {
    /// A refusal of `field` because of `reason`.
    pub fn new(field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same refusal, reported under another field name (e.g. the outer field of a nested value).
    #[must_use]
    pub fn in_field(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.field = field.into();
        self
    }
}
