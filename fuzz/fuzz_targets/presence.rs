#![no_main]
//! See `ferrocast_fuzz::protocol_checks::presence` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrocast_fuzz::protocol_checks::presence(data));
