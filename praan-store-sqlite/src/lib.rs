#![doc = include_str!("../README.md")]

mod checkpoint;
mod columns;
mod commands;
mod connect;
mod connections;
mod control;
mod devices;
mod error;
mod maintenance;
#[cfg(test)]
mod plans;
mod pre_cleans;
mod rollups;
mod schedules;
mod state;
mod telemetry;

pub use connect::{MIGRATIONS_TABLE, SqliteOptions, SqliteStore, Synchronous};
