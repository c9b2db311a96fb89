//! Renders the `spin-operator` chart with real Helm (Helm v4's Go SDK from the pinned
//! PyPI wheel `helm-python-sdk`, driven by `charts/helm.sh`), for the chart's tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    charts_dir().join("spin-operator")
}

/// `charts/`.
pub fn charts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One rendered document: the template it came from and its content.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub source: String,
    pub value: Value,
}

impl Manifest {
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
}

/// Runs `charts/helm.sh ARGS`; Ok(stdout) or Err(stderr).
pub fn helm(args: &[&str]) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(charts_dir().join("helm.sh"))
        .args(args)
        .output()
        .expect("bash runs charts/helm.sh");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `helm template` of the chart with `--set` values (and `extra` arguments).
pub fn template_text(sets: &[&str], extra: &[&str]) -> Result<String, String> {
    let chart = chart_dir().display().to_string();
    let mut args = vec!["template", chart.as_str()];
    for set in sets {
        args.extend(["--set", set]);
    }
    args.extend(extra);
    helm(&args)
}

/// The rendered manifests, parsed.
pub fn render(sets: &[&str]) -> Result<Vec<Manifest>, String> {
    Ok(parse(&template_text(sets, &[])?))
}

/// Splits `helm template` output into its documents.
pub fn parse(text: &str) -> Vec<Manifest> {
    text.split("\n---\n")
        .chain(std::iter::once(""))
        .filter_map(|doc| {
            let doc = doc.trim_start_matches("---\n");
            let source = doc
                .lines()
                .find_map(|l| l.strip_prefix("# Source: "))?
                .to_string();
            let value: Value = serde_yaml::from_str(doc)
                .unwrap_or_else(|e| panic!("{source} is not YAML: {e}\n{doc}"));
            Some(Manifest { source, value })
        })
        .collect()
}
