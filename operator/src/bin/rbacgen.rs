//! Writes the operator's ClusterRole rules into the Helm chart.

fn main() -> std::io::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(spin_operator::rbac::RULES_FILE);
    std::fs::create_dir_all(path.parent().expect("file in a dir"))?;
    std::fs::write(&path, spin_operator::rbac::rules_yaml())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
