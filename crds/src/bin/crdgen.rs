//! Writes the CRD YAML to `crds/spinkube.crds.yaml` and the chart's `crds/` (or prints
//! it with `--stdout`).

use std::path::Path;

fn main() -> std::io::Result<()> {
    let yaml = spin_crds::crd_yaml();
    if std::env::args().any(|a| a == "--stdout") {
        print!("{yaml}");
        return Ok(());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for target in spin_crds::CRD_FILES {
        let path = root.join(target);
        std::fs::create_dir_all(path.parent().expect("file in a dir"))?;
        std::fs::write(&path, &yaml)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
