//! The example server as a library, so its pieces can be tested and reused: [`config`] reads
//! the configuration of PRODUCT.md §9, [`app`] wires and runs the system, [`serve`] serves the
//! REST API with a deadline for request headers.

pub mod app;
pub mod config;
pub mod serve;

pub use app::{Server, StartError};
pub use config::{Config, ConfigError, DatabaseUrl, Invocation};
