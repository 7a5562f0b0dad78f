#![doc = include_str!("../README.md")]

pub mod clock;
pub mod codec;
pub mod command;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod control;
pub mod domain;
pub mod engine;
pub mod ingest;
pub mod schedule;
pub mod store;
pub mod transport;
