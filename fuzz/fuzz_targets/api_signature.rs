#![no_main]
//! See `ferrocast_fuzz::protocol_checks::api_signature` (the protocol functions and the
//! sign-then-verify round trip) and `ferrocast_fuzz::server_checks::signed_request` (the same
//! round trip through the server's real request verifier, with the default `server` feature).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferrocast_fuzz::protocol_checks::api_signature(data);
    #[cfg(feature = "server")]
    ferrocast_fuzz::server_checks::signed_request(data);
});
