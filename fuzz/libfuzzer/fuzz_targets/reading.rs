//! Fuzz target: `praan_fuzz::reading`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| praan_fuzz::reading(data));
