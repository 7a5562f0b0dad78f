#![doc = include_str!("../README.md")]
//!
//! # Library layout
//!
//! - [`model`]: one purifier, pure (time is an argument): drift, purification, commands with
//!   `commandId` de-duplication, and the seed-compat quirks.
//! - [`command`]: the command payload as a device parses it, and the recent-id memory.
//! - [`fleet`]: N devices on MQTT (rumqttc), one session each, with [`fleet::Counters`].
//! - [`config`]: [`config::FleetConfig`], the broker URL and the duration syntax of the flags.
//! - `brokers` (feature `brokers`): real brokers to run devices against — embedded rumqttd and
//!   Mosquitto child processes on free loopback ports.

#[cfg(feature = "brokers")]
pub mod brokers;
pub mod command;
pub mod config;
pub mod fleet;
pub mod model;

pub use config::{BrokerUrl, ConfigError, FleetConfig};
pub use fleet::{Counters, CountersSnapshot, Fleet};
pub use model::{DeviceModel, DeviceSpec, Mode, Report};
