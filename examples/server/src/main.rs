//! `praan-server`: see the crate README for what it will run; today it says so and exits.

#![doc = include_str!("../README.md")]

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "praan-server {}: the example server is not built yet (roadmap: wave 1, step 7). \
         Run the test suite with `cargo test --workspace --all-features`.",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::FAILURE
}
