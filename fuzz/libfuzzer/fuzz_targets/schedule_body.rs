//! Fuzz target: `praan_fuzz::schedule_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| praan_fuzz::schedule_body(data));
