#![no_main]
// `fleet_entry` in src/entries.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ibkr_auth_fuzz::entries::fleet_entry(data));
