//! Fan speed and the on/off + speed state of a purifier.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Timestamp, ValidationError};

/// A fan speed, 0–5; 0 means off.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct FanSpeed(u8);

impl FanSpeed {
    /// Off.
    pub const OFF: Self = Self(0);
    /// The highest speed.
    pub const MAX: Self = Self(5);

    /// `n` if it is 0–5.
    pub fn new(n: u8) -> Result<Self, ValidationError> {
        if n <= Self::MAX.0 {
            Ok(Self(n))
        } else {
            Err(ValidationError::new(
                "fanSpeed",
                "must be an integer from 0 to 5",
            ))
        }
    }

    /// `n` if it is 1–5: the speeds a schedule, a pre-clean or a registry maximum may ask for.
    pub fn running(n: u8) -> Result<Self, ValidationError> {
        if (1..=Self::MAX.0).contains(&n) {
            Ok(Self(n))
        } else {
            Err(ValidationError::new(
                "fanSpeed",
                "must be an integer from 1 to 5",
            ))
        }
    }

    /// The speed as a number.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Whether this is speed 0.
    pub const fn is_off(self) -> bool {
        self.0 == 0
    }
}

impl TryFrom<u8> for FanSpeed {
    type Error = ValidationError;
    fn try_from(n: u8) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl From<FanSpeed> for u8 {
    fn from(s: FanSpeed) -> Self {
        s.0
    }
}

impl fmt::Debug for FanSpeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FanSpeed({})", self.0)
    }
}

impl fmt::Display for FanSpeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What a purifier is doing or should do: power and fan speed.
///
/// Desired states built by praan are normalised (off is `powerOn: false, fanSpeed: 0`); states a
/// device reports are kept as reported.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FanState {
    /// Whether the purifier is on.
    pub power_on: bool,
    /// Its fan speed.
    pub fan_speed: FanSpeed,
}

impl FanState {
    /// Off: power off, speed 0.
    pub const OFF: Self = Self {
        power_on: false,
        fan_speed: FanSpeed::OFF,
    };

    /// Running at `speed`; speed 0 is off.
    pub const fn at_speed(speed: FanSpeed) -> Self {
        Self {
            power_on: !speed.is_off(),
            fan_speed: speed,
        }
    }

    /// Whether this state means "off" (power off, or speed 0).
    pub const fn is_off(self) -> bool {
        !self.power_on || self.fan_speed.is_off()
    }
}

/// A state the device itself reported, and when (from a reading or an ack's `currentState`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportedState {
    /// The reported power and speed.
    #[serde(flatten)]
    pub state: FanState,
    /// The device's time of the report; newer reports replace older ones, never the reverse.
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_are_bounded_and_strict() {
        assert_eq!(FanSpeed::new(5).unwrap().get(), 5);
        assert!(FanSpeed::new(6).is_err());
        assert!(FanSpeed::running(0).is_err());
        assert!(serde_json::from_str::<FanSpeed>("3").is_ok());
        for bad in ["\"3\"", "3.5", "-1", "6", "null", "true"] {
            assert!(serde_json::from_str::<FanSpeed>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn speed_zero_is_off() {
        assert_eq!(FanState::at_speed(FanSpeed::OFF), FanState::OFF);
        assert!(FanState::at_speed(FanSpeed::MAX).power_on);
        let json = serde_json::to_string(&FanState::at_speed(FanSpeed::MAX)).unwrap();
        assert_eq!(json, r#"{"powerOn":true,"fanSpeed":5}"#);
    }
}
