#![no_main]
// `url_query` in src/entries.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ibkr_auth_fuzz::entries::url_query(data));
