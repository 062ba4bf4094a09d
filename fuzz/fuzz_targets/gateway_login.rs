#![no_main]
// `gateway_login` in src/entries.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ibkr_auth_fuzz::entries::gateway_login(data));
