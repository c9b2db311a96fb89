//! OCI image manifests as the shim reads them from the content store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spin_app::oci::ImageManifest;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = ImageManifest::parse(data) else {
        return;
    };
    let _ = manifest.locked_app();
    for layer in manifest.content_layers() {
        assert_eq!(layer.digest.hex().len(), 64);
    }
});
