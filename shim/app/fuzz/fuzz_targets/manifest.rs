//! spin.toml text: parsing never panics, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = spin_app::load::parse_manifest(text, std::path::Path::new("spin.toml"));
    }
});
