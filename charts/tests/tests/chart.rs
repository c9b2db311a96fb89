//! The chart, rendered by real Helm: what it installs, that every manifest is exactly a
//! Kubernetes type (no field lost in a typed round trip) and parses with `kubectl`,
//! that the CRDs and RBAC are the generated ones, that bad values fail naming the value,
//! and that the plain-YAML install file is the chart's default render
//! (`UPDATE_GOLDEN=1` rewrites it).

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde_json::{Value, json};
use spin_operator_chart::{Manifest, chart_dir, charts_dir, helm, parse, render, template_text};

fn kinds(manifests: &[Manifest]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in manifests {
        *out.entry(m.kind().to_string()).or_default() += 1;
    }
    out
}

fn one<'a>(manifests: &'a [Manifest], kind: &str) -> &'a Value {
    let found: Vec<_> = manifests.iter().filter(|m| m.kind() == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} expected");
    &found[0].value
}

/// Deserializes into the typed struct and back: a misspelt or misplaced field is lost
/// on the way and shows as a difference.
fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(m: &Manifest) {
    let typed: T = serde_json::from_value(m.value.clone())
        .unwrap_or_else(|e| panic!("{} {}: {e}", m.source, m.name()));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        back,
        m.value,
        "{} ({} {}) has fields its type does not know",
        m.source,
        m.kind(),
        m.name()
    );
}

fn check_types(manifests: &[Manifest]) {
    for m in manifests {
        match m.kind() {
            "Deployment" => round_trips::<Deployment>(m),
            "DaemonSet" => round_trips::<DaemonSet>(m),
            "Service" => round_trips::<Service>(m),
            "ServiceAccount" => round_trips::<ServiceAccount>(m),
            "ClusterRole" => round_trips::<ClusterRole>(m),
            "ClusterRoleBinding" => round_trips::<ClusterRoleBinding>(m),
            "RuntimeClass" => round_trips::<RuntimeClass>(m),
            "Namespace" => round_trips::<Namespace>(m),
            "ConfigMap" => round_trips::<ConfigMap>(m),
            "ValidatingAdmissionPolicy" => round_trips::<ValidatingAdmissionPolicy>(m),
            "ValidatingAdmissionPolicyBinding" => {
                round_trips::<ValidatingAdmissionPolicyBinding>(m)
            }
            "SpinAppExecutor" => {
                let problems = spin_crds::schema_check::check(&m.value);
                assert!(problems.is_empty(), "{}: {problems:?}", m.source);
            }
            "ServiceMonitor" => {
                assert_eq!(m.value["apiVersion"], "monitoring.coreos.com/v1");
            }
            other => panic!("{}: unexpected kind {other}", m.source),
        }
    }
}

fn env(container: &Value) -> BTreeMap<String, Value> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let value = e
                .get("value")
                .cloned()
                .unwrap_or_else(|| e["valueFrom"].clone());
            (e["name"].as_str().unwrap().to_string(), value)
        })
        .collect()
}

#[test]
fn lint_passes_strictly() {
    let out = helm(&["lint", &chart_dir().display().to_string()]).unwrap();
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

#[test]
fn default_install_has_every_part() {
    let manifests = render(&[]).unwrap();
    check_types(&manifests);
    let expected: BTreeMap<String, usize> = [
        ("ClusterRole", 2),
        ("ClusterRoleBinding", 2),
        ("DaemonSet", 1),
        ("Deployment", 1),
        ("RuntimeClass", 1),
        ("Service", 1),
        ("ServiceAccount", 2),
        ("SpinAppExecutor", 1),
        ("ValidatingAdmissionPolicy", 2),
        ("ValidatingAdmissionPolicyBinding", 2),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(kinds(&manifests), expected);

    // The operator: leader election with 2 replicas, non-root read-only, probes, metrics.
    let deploy = one(&manifests, "Deployment");
    assert_eq!(deploy["spec"]["replicas"], 2);
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["ports"][0]["name"], "http");
    let e = env(c);
    assert_eq!(e["SPIN_OPERATOR_LEADER_ELECTION"], "true");
    assert_eq!(e["SPIN_OPERATOR_HTTP_ADDR"], "0.0.0.0:8080");
    assert_eq!(
        e["POD_NAMESPACE"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(e["POD_NAME"]["fieldRef"]["fieldPath"], "metadata.name");
    assert_eq!(c["image"], "ghcr.io/spin-kube-rs/spin-operator:0.1.0");

    // The wire contracts: RuntimeClass wasmtime-spin-v2 → handler spin, on installed nodes;
    // the default executor names it.
    let rc = one(&manifests, "RuntimeClass");
    assert_eq!(rc["metadata"]["name"], "wasmtime-spin-v2");
    assert_eq!(rc["handler"], "spin");
    assert_eq!(
        rc["scheduling"]["nodeSelector"][spin_node_installer::label::INSTALLED_LABEL],
        spin_node_installer::label::INSTALLED_VALUE
    );
    let executor = one(&manifests, "SpinAppExecutor");
    assert_eq!(executor["metadata"]["name"], "containerd-shim-spin");
    assert_eq!(executor["metadata"]["namespace"], "default");
    assert_eq!(
        executor["spec"]["deploymentConfig"]["runtimeClassName"],
        "wasmtime-spin-v2"
    );

    // The node installer: an init container, privileged, host PID, the host's / at
    // /host, its node's name and the pod's only API token; then a container that holds
    // nothing (no privilege, capability, host mount or token) while the pod lives.
    let ds = one(&manifests, "DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], true);
    assert_eq!(pod["automountServiceAccountToken"], false);
    let c = &pod["initContainers"][0];
    assert_eq!(c["securityContext"]["privileged"], true);
    assert!(c["args"].is_null(), "installs and exits");
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/host");
    assert_eq!(
        c["volumeMounts"][1]["mountPath"],
        "/var/run/secrets/kubernetes.io/serviceaccount"
    );
    assert_eq!(pod["volumes"][0]["hostPath"]["path"], "/");
    assert_eq!(
        pod["volumes"][1]["projected"]["sources"][0]["serviceAccountToken"]["path"],
        "token"
    );
    let idle = &pod["containers"][0];
    assert_eq!(pod["containers"].as_array().unwrap().len(), 1);
    assert_eq!(idle["args"], json!(["--idle"]));
    assert!(idle["volumeMounts"].is_null() && idle["env"].is_null());
    let locked_down = &idle["securityContext"];
    assert_eq!(locked_down["runAsNonRoot"], true);
    assert_eq!(locked_down["allowPrivilegeEscalation"], false);
    assert_eq!(locked_down["capabilities"]["drop"], json!(["ALL"]));
    assert!(locked_down["privileged"].is_null());
    let e = env(c);
    assert_eq!(e["SPIN_INSTALLER_HOST_ROOT"], "/host");
    assert_eq!(e["SPIN_INSTALLER_INSTALL_DIR"], "/opt/spin/bin");
    assert_eq!(e["SPIN_INSTALLER_RESTART"], "systemd");
    assert_eq!(e["NODE_NAME"]["fieldRef"]["fieldPath"], "spec.nodeName");
    assert_eq!(
        e["SPIN_INSTALLER_NODE_LABEL"],
        format!(
            "{}={}",
            spin_node_installer::label::INSTALLED_LABEL,
            spin_node_installer::label::INSTALLED_VALUE
        )
    );
    let installer_role = manifests
        .iter()
        .find(|m| m.kind() == "ClusterRole" && m.name().ends_with("node-installer"))
        .unwrap();
    assert_eq!(
        installer_role.value["rules"],
        json!([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}])
    );

    // The ServiceAccounts the workloads name exist.
    for workload in [deploy, ds] {
        let sa = workload["spec"]["template"]["spec"]["serviceAccountName"]
            .as_str()
            .unwrap();
        assert!(
            manifests
                .iter()
                .any(|m| m.kind() == "ServiceAccount" && m.name() == sa),
            "no ServiceAccount {sa}"
        );
    }
}

#[test]
fn the_operator_cluster_role_is_the_operators_list() {
    let manifests = render(&[]).unwrap();
    let role = manifests
        .iter()
        .find(|m| m.kind() == "ClusterRole" && m.name() == "spin-operator")
        .unwrap();
    let expected: Value = serde_yaml::from_str(&spin_operator::rbac::rules_yaml()).unwrap();
    assert_eq!(role.value["rules"], expected);
}

#[test]
fn the_chart_crds_are_the_generated_ones() {
    let out = template_text(&[], &["--include-crds"]).unwrap();
    let crds: Vec<Manifest> = parse(&out)
        .into_iter()
        .filter(|m| m.kind() == "CustomResourceDefinition")
        .collect();
    let generated: Vec<Value> = serde_yaml::Deserializer::from_str(&spin_crds::crd_yaml())
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(crds.len(), generated.len());
    assert!(
        crds.iter().zip(&generated).all(|(m, g)| &m.value == g),
        "the chart's CRDs differ from `spin_crds::crd_yaml()`"
    );
    assert_eq!(
        std::fs::read_to_string(chart_dir().join("crds/spinkube.crds.yaml")).unwrap(),
        spin_crds::crd_yaml()
    );
}

#[test]
fn options_change_what_is_installed() {
    let off = render(&[
        "nodeInstaller.enabled=false",
        "metrics.service.enabled=false",
        "rbac.create=false",
        "serviceAccount.create=false",
        "rbac.admissionPolicies=false",
    ])
    .unwrap();
    check_types(&off);
    let k = kinds(&off);
    assert!(!k.contains_key("DaemonSet") && !k.contains_key("ClusterRole"));
    assert!(!k.contains_key("ValidatingAdmissionPolicy"));
    assert!(!k.contains_key("Service") && !k.contains_key("ServiceAccount"));
    // Without the installer, Spin pods are not tied to labelled nodes.
    assert!(one(&off, "RuntimeClass").get("scheduling").is_none());

    let more = render(&[
        "executor.namespaces={apps,team-b}",
        "metrics.serviceMonitor.enabled=true",
        "replicaCount=1",
        "leaderElection.enabled=false",
        "runtimeClass.tolerations[0].key=wasm",
        "runtimeClass.tolerations[0].operator=Exists",
        "nodeInstaller.restart=host-command",
        "nodeInstaller.restartCommand=/etc/init.d/containerd restart",
        "image.tag=dev",
    ])
    .unwrap();
    check_types(&more);
    let namespaces: Vec<&Value> = more
        .iter()
        .filter(|m| m.kind() == "SpinAppExecutor")
        .map(|m| &m.value["metadata"]["namespace"])
        .collect();
    assert_eq!(namespaces, [&json!("apps"), &json!("team-b")]);
    let monitor = one(&more, "ServiceMonitor");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "http");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    let rc = one(&more, "RuntimeClass");
    assert_eq!(rc["scheduling"]["tolerations"][0]["key"], "wasm");
    let deploy = one(&more, "Deployment");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/spin-kube-rs/spin-operator:dev"
    );
    let ds = one(&more, "DaemonSet");
    let e = env(&ds["spec"]["template"]["spec"]["initContainers"][0]);
    assert_eq!(
        e["SPIN_INSTALLER_RESTART_COMMAND"],
        "/etc/init.d/containerd restart"
    );
}

/// The node config reaches the installer as a file from a ConfigMap, and a change to it
/// rolls the installers.
#[test]
fn the_node_config_reaches_the_installer() {
    let config = "[ceilings]\nSPIN_KEY_VALUE_MAX_BYTES = \"256Mi\"\n";
    let manifests = render(&[&format!("nodeInstaller.nodeConfig={config}")]).unwrap();
    check_types(&manifests);
    let map = manifests
        .iter()
        .find(|m| m.kind() == "ConfigMap" && m.name().ends_with("node-installer-node-config"))
        .expect("the node config's ConfigMap");
    assert_eq!(map.value["data"]["node.toml"], config);
    let ds = one(&manifests, "DaemonSet");
    let pod = &ds["spec"]["template"];
    let e = env(&pod["spec"]["initContainers"][0]);
    assert_eq!(
        e["SPIN_INSTALLER_NODE_CONFIG"],
        "/etc/spin-node-installer/node.toml"
    );
    assert_eq!(
        pod["spec"]["volumes"][2]["configMap"]["name"],
        map.value["metadata"]["name"]
    );
    assert!(
        pod["metadata"]["annotations"]["spin-kube.dev/node-config-sha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    let default = render(&[]).unwrap();
    assert!(!default.iter().any(|m| m.kind() == "ConfigMap"));
}

#[test]
fn a_second_executor_runs_apps_with_the_spin_run_image() {
    let manifests = render(&[
        "spinImageExecutor.create=true",
        "spinImageExecutor.default=true",
        "spinImageExecutor.namespaces={apps}",
        "spinImageExecutor.image.tag=dev",
    ])
    .unwrap();
    check_types(&manifests);
    let executors: Vec<&Value> = manifests
        .iter()
        .filter(|m| m.kind() == "SpinAppExecutor")
        .map(|m| &m.value)
        .collect();
    assert_eq!(executors.len(), 2, "the shim's executor stays");
    let spin_run = executors
        .iter()
        .find(|e| e["metadata"]["name"] == "spin-run")
        .expect("the spin-run executor");
    assert_eq!(spin_run["metadata"]["namespace"], "apps");
    assert_eq!(
        spin_run["metadata"]["annotations"]["spin-kube.dev/default-executor"],
        "true"
    );
    let config = &spin_run["spec"]["deploymentConfig"];
    assert_eq!(config["spinImage"], "ghcr.io/spin-kube-rs/spin-run:dev");
    assert!(config.get("runtimeClassName").is_none());
}

#[test]
fn bad_values_fail_naming_the_value() {
    let cases = [
        ("replicas=2", "additional properties 'replicas' not allowed"),
        ("replicaCount=-1", "/replicaCount"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("nodeInstaller.restart=reboot", "/nodeInstaller/restart"),
        ("runtimeClass.handler=Spin_X", "/runtimeClass/handler"),
        (
            "nodeInstaller.installDir=opt/spin",
            "/nodeInstaller/installDir",
        ),
        (
            "nodeInstaller.nodeLabel=nolabel",
            "/nodeInstaller/nodeLabel",
        ),
        ("metrics.port=70000", "/metrics/port"),
        ("concurrency=zero", "/concurrency"),
        (
            "leaderElection.enabled=false",
            "replicaCount=2 needs leaderElection.enabled=true",
        ),
        (
            "nodeInstaller.restart=host-command",
            "nodeInstaller.restart=host-command needs nodeInstaller.restartCommand",
        ),
        ("nodeInstaller.restart=command", "/nodeInstaller/restart"),
        (
            "metrics.service.enabled=false,metrics.serviceMonitor.enabled=true",
            "needs metrics.service.enabled=true",
        ),
    ];
    for (set, expected) in cases {
        let err = render(&[set]).expect_err(set);
        assert!(err.contains(expected), "--set {set}: {err}");
    }
}

#[test]
fn every_value_is_documented() {
    // A key is documented by a comment right above it, or by being inside the value
    // of a key documented with `# --` (a default given as a whole, like resources).
    let text = std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap();
    let mut covered_below: Option<usize> = None;
    let mut previous = "";
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        let is_key = !trimmed.starts_with('#')
            && !trimmed.starts_with('-')
            && trimmed.contains(':')
            && !trimmed.is_empty();
        if is_key {
            if covered_below.is_some_and(|i| indent <= i) {
                covered_below = None;
            }
            let documented = previous.trim_start().starts_with('#');
            assert!(
                documented || covered_below.is_some(),
                "values.yaml: `{trimmed}` has no comment"
            );
            if previous.trim_start().starts_with("# --") && covered_below.is_none() {
                covered_below = Some(indent);
            }
        }
        if !trimmed.is_empty() {
            previous = line;
        }
    }
}

#[test]
fn notes_tell_how_to_deploy_a_first_app() {
    let chart = chart_dir().display().to_string();
    let out = std::process::Command::new("bash")
        .arg(charts_dir().join("helm.sh"))
        .args(["template", &chart, "--notes"])
        .output()
        .unwrap();
    let notes = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "kind: SpinApp",
        "executor: containerd-shim-spin",
        "kubectl get spinapps",
        "rollout status daemonset/spin-operator-node-installer",
        "spin kube deploy",
    ] {
        assert!(
            notes.contains(expected),
            "NOTES.txt lacks {expected:?}:\n{notes}"
        );
    }
}

#[test]
fn plain_yaml_install_file_is_the_default_render() {
    let rendered = template_text(&[], &[]).unwrap();
    let expected = format!(
        "# The spin-operator chart rendered with its default values (release spin-operator,\n\
         # namespace spin-system), for clusters without Helm. Install the CRDs first:\n\
         #   kubectl apply --server-side -f crds/spinkube.crds.yaml\n\
         #   kubectl apply --server-side -f charts/spin-operator.yaml\n\
         # Generated from charts/spin-operator by its tests (UPDATE_GOLDEN=1 cargo test -p spin-operator-chart).\n\
         ---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: spin-system\n{rendered}"
    );
    let path = charts_dir().join("spin-operator.yaml");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "charts/spin-operator.yaml is stale: UPDATE_GOLDEN=1 cargo test -p spin-operator-chart"
    );
}

#[test]
fn every_manifest_parses_with_kubectl() {
    let chart = template_text(
        &["metrics.serviceMonitor.enabled=true"],
        &["--include-crds"],
    )
    .unwrap();
    let install = std::fs::read_to_string(charts_dir().join("spin-operator.yaml")).unwrap();
    for (name, yaml) in [("chart", chart), ("install", install)] {
        let Some(text) = kube_fake_api::kubectl::kustomize(&[(format!("{name}.yaml"), yaml)])
        else {
            return;
        };
        let kinds: &[&str] = if name == "chart" {
            &["CustomResourceDefinition", "ServiceMonitor"]
        } else {
            &["Namespace"]
        };
        for kind in ["Deployment", "DaemonSet", "RuntimeClass", "SpinAppExecutor"]
            .iter()
            .chain(kinds)
        {
            assert!(
                text.contains(&format!("kind: {kind}")),
                "{name}: kubectl lost {kind}"
            );
        }
    }
}
