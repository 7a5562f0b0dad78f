//! Fuzz target: `praan_fuzz::topic`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| praan_fuzz::topic(data));
