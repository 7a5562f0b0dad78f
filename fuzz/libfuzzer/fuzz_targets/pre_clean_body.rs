//! Fuzz target: `praan_fuzz::pre_clean_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| praan_fuzz::pre_clean_body(data));
