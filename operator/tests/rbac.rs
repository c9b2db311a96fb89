//! The chart's ClusterRole rules are the operator's list (`UPDATE_GOLDEN=1` rewrites).

use std::path::Path;

use spin_operator::rbac::{RULES_FILE, rules_yaml};

#[test]
fn committed_rules_match_the_operator() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(RULES_FILE);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, rules_yaml()).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == rules_yaml(),
        "{RULES_FILE} is stale: run `cargo run -p spin-operator --bin rbacgen`"
    );
    let parsed: Vec<serde_yaml::Value> = serde_yaml::from_str(&committed).unwrap();
    assert!(
        parsed
            .iter()
            .all(|r| r["verbs"].as_sequence().is_some_and(|v| !v.is_empty()))
    );
}
