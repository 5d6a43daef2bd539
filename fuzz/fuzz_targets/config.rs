#![no_main]
//! See `ferrocast_fuzz::server_checks::config` for the input format and what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrocast_fuzz::server_checks::config(data));
