//! `praan-simulator`: see the crate README for what it will run; today it says so and exits.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "praan-simulator {}: the simulator is not built yet (roadmap: wave 1, step 5).",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::FAILURE
}
