//! [`DeviceId`]: the identity of a device, taken from the MQTT topic.

use std::{borrow::Borrow, fmt, str::FromStr, sync::Arc};

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// The longest device id, in bytes (every allowed character is one byte).
pub const DEVICE_ID_MAX_LEN: usize = 64;

/// A device's id: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`.
///
/// The grammar keeps ids safe as one MQTT topic level (never `/ + # $`, whitespace or NUL), as a
/// URL path segment and as a database key. Cloning is cheap (a shared string).
///
/// ```
/// use praan_core::domain::DeviceId;
/// let id: DeviceId = "AIR_PURIFIER_001".parse()?;
/// assert_eq!(id.as_str(), "AIR_PURIFIER_001");
/// assert!("a/+/#".parse::<DeviceId>().is_err());
/// # Ok::<(), praan_core::domain::ValidationError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceId(Arc<str>);

impl DeviceId {
    /// Parses `s` against the grammar.
    pub fn new(s: &str) -> Result<Self, ValidationError> {
        check(s)?;
        Ok(Self(Arc::from(s)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check(s: &str) -> Result<(), ValidationError> {
    let invalid = |reason: &str| Err(ValidationError::new("deviceId", reason));
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else {
        return invalid("must not be empty");
    };
    if bytes.len() > DEVICE_ID_MAX_LEN {
        return invalid("must be at most 64 characters");
    }
    if !first.is_ascii_alphanumeric() {
        return invalid("must start with a letter or digit (A-Z, a-z, 0-9)");
    }
    if !bytes[1..]
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return invalid("may contain only A-Z, a-z, 0-9, '_', '.' and '-'");
    }
    Ok(())
}

impl FromStr for DeviceId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for DeviceId {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        check(&s)?;
        Ok(Self(Arc::from(s)))
    }
}

impl From<DeviceId> for String {
    fn from(id: DeviceId) -> Self {
        id.0.as_ref().to_owned()
    }
}

impl AsRef<str> for DeviceId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for DeviceId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_grammar() {
        for ok in ["a", "AIR_PURIFIER_001", "0", "dev-1.2_x", &"a".repeat(64)] {
            assert_eq!(DeviceId::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_everything_else() {
        let long = "a".repeat(65);
        for bad in [
            "",
            "_a",
            ".a",
            "-a",
            "a/b",
            "a+",
            "a#",
            "$SYS",
            "a b",
            "a\0",
            "a%2F",
            &long,
            "а",
            "ａ",
            "a\u{200b}",
            "a\n",
        ] {
            assert!(DeviceId::new(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn serde_goes_through_the_grammar() {
        let id: DeviceId = serde_json::from_str("\"dev-1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"dev-1\"");
        let err = serde_json::from_str::<DeviceId>("\"a/b\"").unwrap_err();
        assert!(err.to_string().contains("deviceId"), "{err}");
    }
}
