#![no_main]
//! See `ferrocast_fuzz::protocol_checks::client_msg` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrocast_fuzz::protocol_checks::client_msg(data));
