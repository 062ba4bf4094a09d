#![no_main]
// `dh_response` in src/entries.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ibkr_auth_fuzz::entries::dh_response(data));
