#![doc = include_str!("../README.md")]

pub mod clock;
pub mod codec;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod domain;
pub mod store;
pub mod transport;
