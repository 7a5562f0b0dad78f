//! Fuzz target: `praan_fuzz::ack`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| praan_fuzz::ack(data));
