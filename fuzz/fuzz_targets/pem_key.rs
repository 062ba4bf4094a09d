#![no_main]
// `pem_key` in src/entries.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ibkr_auth_fuzz::entries::pem_key(data));
