//! Fuzz target: `praan_fuzz::device_id`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| praan_fuzz::device_id(data));
