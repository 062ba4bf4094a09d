#![no_main]
// `access_token_secret` in src/entries.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ibkr_auth_fuzz::entries::access_token_secret(data));
