//! The cases: `pub async fn <case>(store: &dyn Store)`, one per contract point, each on a fresh,
//! empty store. Each case's docs name the contract point it checks.
//!
//! Every case is listed once in [`store_conformance_tests!`](crate::store_conformance_tests), which
//! stamps it as a `#[test]` of the same name.

mod commands;
mod common;
mod control;
mod maintenance;
mod pre_cleans;
mod registry;
mod schedules;
mod state;
mod telemetry;

pub use commands::*;
pub use common::*;
pub use control::*;
pub use maintenance::*;
pub use pre_cleans::*;
pub use registry::*;
pub use schedules::*;
pub use state::*;
pub use telemetry::*;
