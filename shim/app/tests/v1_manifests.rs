//! Version 1 manifests converted to version 2: each `tests/v1-manifests/X.toml` against
//! its golden `X.v2.toml` (`UPDATE_GOLDEN=1 cargo test -p spin-app` rewrites them), and
//! every conversion read by the strict version 2 parser.

use std::path::Path;

#[test]
fn version_1_manifests_convert_as_the_golden_files_say() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/v1-manifests");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".toml") && !name.ends_with(".v2.toml")
        })
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 8, "{inputs:?}");
    for input in inputs {
        let text = std::fs::read_to_string(&input).unwrap();
        let document = spin_app::load::v2_document(&text, &input)
            .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        let converted = toml::to_string_pretty(&document).unwrap();
        spin_app::load::parse_manifest(&converted, &input).unwrap_or_else(|e| {
            panic!("the conversion of {} does not parse: {e}", input.display())
        });

        let golden = input.with_extension("v2.toml");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&golden, &converted).unwrap();
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        assert_eq!(
            converted,
            expected,
            "{} differs from {} (UPDATE_GOLDEN=1 to accept)",
            input.display(),
            golden.display()
        );
    }
}
