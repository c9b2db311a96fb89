//! `spin-kube scaffold`: golden output per flag combination (`UPDATE_GOLDEN=1` rewrites
//! them), every document checked against its schema, and the flag errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize;
use serde_json::Value;

const IMAGE: &str = "ghcr.io/foo/example-app:v0.1.0";

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn scaffold(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spin-kube"))
        .arg("scaffold")
        .args(args)
        .output()
        .unwrap()
}

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.yaml"))
}

/// Every document parses as its kind; SpinApps pass the CRD schema strictly.
fn check_documents(name: &str, yaml: &str) {
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let value = Value::deserialize(doc).unwrap();
        match value["kind"].as_str().unwrap() {
            "SpinApp" => {
                let problems = spin_crds::schema_check::check(&value);
                assert!(problems.is_empty(), "{name}: {problems:?}");
                serde_json::from_value::<spin_crds::SpinApp>(value).unwrap();
            }
            "Secret" => {
                serde_json::from_value::<Secret>(value).unwrap();
            }
            "HorizontalPodAutoscaler" => {
                let hpa: HorizontalPodAutoscaler = serde_json::from_value(value).unwrap();
                let kind = hpa.spec.unwrap().scale_target_ref.kind;
                assert!(kind == "Deployment" || kind == "SpinApp", "{name}: {kind}");
            }
            "ScaledObject" => {
                assert_eq!(value["apiVersion"], "keda.sh/v1alpha1");
                assert_eq!(value["spec"]["scaleTargetRef"]["name"], "example-app");
            }
            other => panic!("{name}: unexpected kind {other}"),
        }
    }
}

#[test]
fn output_matches_the_goldens_and_the_schemas() {
    let runtime_config = fixture("runtime-config.toml");
    let cases: &[(&str, Vec<&str>)] = &[
        ("minimal", vec![]),
        (
            "replicas_executor",
            vec!["--replicas", "5", "--executor", "cyclotron"],
        ),
        ("name", vec!["--name", "other-name"]),
        (
            "variables",
            vec!["-v", "foo=yoo", "--variable", "bar=yee=with-equals"],
        ),
        (
            "runtime_config",
            vec!["--runtime-config-file", &runtime_config],
        ),
        (
            "image_pull_secrets",
            vec!["-s", "secret-name", "--image-pull-secret", "secret-name-2"],
        ),
        (
            "components",
            vec!["--component", "hello,world", "--component", "third"],
        ),
        (
            "resources",
            vec![
                "--cpu-limit",
                "500m",
                "--memory-limit",
                "256Mi",
                "--cpu-request",
                "100m",
                "--memory-request",
                "64Mi",
            ],
        ),
        (
            "hpa",
            vec![
                "--autoscaler",
                "hpa",
                "--cpu-limit",
                "100m",
                "--memory-limit",
                "128Mi",
            ],
        ),
        (
            "hpa_spinapp",
            vec![
                "--autoscaler",
                "hpa",
                "--autoscaler-target",
                "spinapp",
                "--cpu-limit",
                "100m",
                "--memory-limit",
                "128Mi",
            ],
        ),
        (
            "keda",
            vec![
                "--autoscaler",
                "keda",
                "--cpu-limit",
                "100m",
                "--memory-limit",
                "128Mi",
                "--replicas",
                "1",
                "--max-replicas",
                "10",
                "--autoscaler-target-cpu-utilization",
                "50",
                "--autoscaler-target-memory-utilization",
                "70",
            ],
        ),
        (
            "everything",
            vec![
                "--name",
                "example-app",
                "--autoscaler",
                "hpa",
                "--cpu-limit",
                "1",
                "--memory-limit",
                "1Gi",
                "-v",
                "greeting=hi",
                "-c",
                &runtime_config,
                "-s",
                "regcred",
                "--component",
                "hello",
            ],
        ),
    ];
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, flags) in cases {
        let mut args = vec!["--from", IMAGE];
        args.extend(flags.iter().copied());
        let out = scaffold(&args);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let yaml = String::from_utf8(out.stdout).unwrap();
        check_documents(name, &yaml);
        let path = golden_path(name);
        if update {
            std::fs::write(&path, &yaml).unwrap();
        } else {
            let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
                    path.display()
                )
            });
            assert_eq!(
                yaml,
                want,
                "{name} differs from {}; UPDATE_GOLDEN=1 rewrites it",
                path.display()
            );
        }
    }
}

#[test]
fn writes_to_a_file_with_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    let out = scaffold(&["--from", IMAGE, "--out", &path.display().to_string()]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        written,
        std::fs::read_to_string(golden_path("minimal")).unwrap()
    );
}

#[test]
fn flag_errors_name_the_flag_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let bad_toml = dir.path().join("bad.toml");
    std::fs::write(&bad_toml, "[key_value_store.default\n").unwrap();
    let bad_toml = bad_toml.display().to_string();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--cpu-limit", "100mm"],
            "--cpu-limit: \"100mm\" is not a Kubernetes quantity",
        ),
        (
            &["-v", "novalue"],
            "--variable: \"novalue\" is not NAME=VALUE",
        ),
        (
            &["-v", "Bad-Name=1"],
            "--variable: \"Bad-Name\" is not a Spin variable name",
        ),
        (
            &["--autoscaler", "hpa"],
            "--autoscaler: needs --cpu-limit and --memory-limit",
        ),
        (
            &[
                "--autoscaler",
                "hpa",
                "--cpu-limit",
                "1",
                "--memory-limit",
                "1Gi",
                "--max-replicas",
                "1",
            ],
            "--max-replicas: 1 is below --replicas 2",
        ),
        (
            &[
                "--autoscaler",
                "hpa",
                "--cpu-limit",
                "1",
                "--memory-limit",
                "1Gi",
                "--replicas",
                "0",
            ],
            "--replicas: the minimum replicas for Hpa must be at least 1",
        ),
        (
            &["--name", "Not_Valid"],
            "--name: \"Not_Valid\" is not a valid SpinApp name",
        ),
        (
            &["--component", "Hello"],
            "--component: \"Hello\" is not a Spin component id",
        ),
        (
            &["-c", "/nonexistent.toml"],
            "--runtime-config-file /nonexistent.toml",
        ),
        (&["-c", &bad_toml], "not valid TOML"),
        (&["--replicas=-1"], "--replicas: must not be negative"),
    ];
    for (flags, want) in cases {
        let mut args = vec!["--from", IMAGE];
        args.extend(flags.iter().copied());
        let out = scaffold(&args);
        assert!(!out.status.success(), "{flags:?} succeeded");
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains(want), "{flags:?}: {e}");
    }
    let out = scaffold(&["--from", "http://ghcr.io/x:v1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("REGISTRY/REPOSITORY:TAG"));
    let out = scaffold(&["--from", "ghcr.io/me/Bad_Name:v1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid image reference"));
}
