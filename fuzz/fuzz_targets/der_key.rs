#![no_main]
// `der_key` in src/entries.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ibkr_auth_fuzz::entries::der_key(data));
