//! Any string, as an object key: classified or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = std::str::from_utf8(data) {
        if let Err(e) = trail_parse::ObjectKey::parse(key) {
            assert!(e.to_string().contains(key));
        }
    }
});
