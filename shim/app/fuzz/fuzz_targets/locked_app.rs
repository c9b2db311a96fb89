//! Locked app JSON: parsing never panics; what parses has only safe digests, ids and
//! mount paths, and survives a round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spin_app::LockedApp;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(app) = LockedApp::from_json(data, Path::new("fuzz.lock")) else {
        return;
    };
    for c in &app.components {
        assert!(!c.id.contains(['/', '.']), "unsafe id {:?}", c.id);
        for f in &c.files {
            assert!(spin_app::locked::is_mount_path(&f.path));
            if let Some(d) = &f.content.digest {
                assert_eq!(d.hex().len(), 64);
            }
        }
        if let Some(d) = &c.source.content.digest {
            assert!(d.hex().bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }
    let again = LockedApp::from_json(&app.to_json(), Path::new("again")).expect("round trip");
    assert_eq!(app, again);
});
