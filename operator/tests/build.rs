//! The pure build step from inline YAML to golden Deployment/Service YAML.
//! `UPDATE_GOLDEN=1 cargo test -p spin-operator` rewrites the golden files.

use std::path::{Path, PathBuf};

use spin_crds::{SpinApp, SpinAppExecutor};
use spin_operator::{ReferencedConfig, build, validate};

/// The default executor, as users install it.
const SHIM_EXECUTOR: &str = include_str!("../../examples/kubernetes/executor.yaml");

fn app(yaml: &str) -> SpinApp {
    let mut app: SpinApp = serde_yaml::from_str(yaml).expect("SpinApp YAML");
    app.metadata.uid = Some("0000-uid".into());
    app
}

fn executor(yaml: &str) -> SpinAppExecutor {
    serde_yaml::from_str(yaml).expect("SpinAppExecutor YAML")
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn check_golden(name: &str, app: &SpinApp, executor: &SpinAppExecutor, config: &ReferencedConfig) {
    assert_eq!(validate(app, executor), vec![], "{name} should be valid");
    let desired = build(app, executor, config);
    let mut yaml = String::new();
    if let Some(d) = &desired.deployment {
        yaml.push_str(&serde_yaml::to_string(d).unwrap());
        yaml.push_str("---\n");
    }
    if let Some(secret) = &desired.runtime_config {
        // The rendered file, readable (the Secret holds it base64-encoded).
        let data = secret.data.as_ref().unwrap();
        let text = String::from_utf8(data["runtime-config.toml"].0.clone()).unwrap();
        yaml.push_str("# runtime-config.toml, decoded:\n");
        for line in text.lines() {
            yaml.push_str(&format!("#   {line}\n").replace("#   \n", "#\n"));
        }
        yaml.push_str(&serde_yaml::to_string(secret).unwrap());
        yaml.push_str("---\n");
    }
    yaml.push_str(&serde_yaml::to_string(&desired.service).unwrap());
    let path = golden_dir().join(format!("{name}.yaml"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &yaml).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == yaml,
        "{} differs from the build (UPDATE_GOLDEN=1 to accept):\n{yaml}",
        path.display()
    );
}

#[test]
fn minimal_app() {
    let app = app(r#"
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinApp
metadata: { name: hello, namespace: default }
spec:
  image: ghcr.io/example/hello:v1
  executor: containerd-shim-spin
"#);
    check_golden(
        "minimal",
        &app,
        &executor(SHIM_EXECUTOR),
        &ReferencedConfig::default(),
    );
}

#[test]
fn every_field() {
    let app = app(r#"
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinApp
metadata: { name: shop, namespace: prod }
spec:
  image: registry.example.com/shop@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  executor: containerd-shim-spin
  replicas: 3
  imagePullSecrets: [{ name: regcred }]
  serviceAccountName: shop
  components: [cart, checkout]
  variables:
    - { name: greeting, value: hello }
    - name: api_key
      valueFrom: { secretKeyRef: { name: shop-secrets, key: api-key } }
    - name: region
      valueFrom: { configMapKeyRef: { name: shop-config, key: region } }
  checks:
    readiness: { httpGet: { path: /.well-known/spin/health } }
    liveness:
      httpGet: { path: /healthz, httpHeaders: [{ name: x-probe, value: "1" }] }
      periodSeconds: 5
  resources:
    limits: { cpu: 500m, memory: 128Mi }
    requests: { cpu: 100m, memory: 64Mi }
  volumes: [{ name: assets, emptyDir: {} }]
  volumeMounts: [{ name: assets, mountPath: /assets }]
  runtimeConfig: { loadFromSecret: shop-runtime-config }
  serviceAnnotations: { service.beta.kubernetes.io/aws-load-balancer-internal: "true" }
  deploymentAnnotations: { team: shop }
  podAnnotations: { prometheus.io/scrape: "true" }
  podLabels: { tier: web }
  invocationLimits:
    memory: 64Mi
    spin-kube.dev/maxRequestBody: 8Mi
    spin-kube.dev/requestTimeoutSeconds: "5"
    spintainer.spinframework.dev/bar: left to that executor
"#);
    let config = ReferencedConfig {
        entries: vec![
            ("Secret/shop-secrets/api-key".into(), b"s3cret".to_vec()),
            ("ConfigMap/shop-config/region".into(), b"eu".to_vec()),
        ],
        ..Default::default()
    };
    check_golden("every-field", &app, &executor(SHIM_EXECUTOR), &config);
}

#[test]
fn scheduling_fields_reach_the_pod_template() {
    let app = app(r#"
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinApp
metadata: { name: placed, namespace: default }
spec:
  image: ghcr.io/example/hello:v1
  executor: containerd-shim-spin
  nodeSelector: { kubernetes.io/arch: amd64, pool: wasm }
  tolerations:
    - { key: dedicated, operator: Equal, value: wasm, effect: NoSchedule }
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions: [{ key: topology.kubernetes.io/zone, operator: In, values: [eu-1a, eu-1b] }]
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 50
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector: { matchLabels: { core.spinkube.dev/app-name: placed } }
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: topology.kubernetes.io/zone
      whenUnsatisfiable: ScheduleAnyway
      labelSelector: { matchLabels: { core.spinkube.dev/app-name: placed } }
  priorityClassName: web-critical
"#);
    check_golden(
        "scheduling",
        &app,
        &executor(SHIM_EXECUTOR),
        &ReferencedConfig::default(),
    );
}

#[test]
fn autoscaled_app_leaves_replicas_to_the_autoscaler() {
    let app = app(r#"
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinApp
metadata: { name: scaled, namespace: default }
spec:
  image: ghcr.io/example/hello:v1
  executor: containerd-shim-spin
  enableAutoscaling: true
"#);
    check_golden(
        "autoscaled",
        &app,
        &executor(SHIM_EXECUTOR),
        &ReferencedConfig::default(),
    );
    let desired = build(&app, &executor(SHIM_EXECUTOR), &ReferencedConfig::default());
    assert_eq!(desired.deployment.unwrap().spec.unwrap().replicas, None);
}

#[test]
fn executor_without_deployments_gets_only_a_service() {
    let exec = executor(
        r#"
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinAppExecutor
metadata: { name: external, namespace: default }
spec: { createDeployment: false }
"#,
    );
    let app = app(r#"
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinApp
metadata: { name: external-app, namespace: default }
spec: { image: ghcr.io/example/hello:v1, executor: external }
"#);
    check_golden("service-only", &app, &exec, &ReferencedConfig::default());
}

#[test]
fn spin_image_executor_runs_spin_in_a_container() {
    let exec = executor(
        r#"
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinAppExecutor
metadata: { name: spin-in-container, namespace: default }
spec:
  createDeployment: true
  deploymentConfig:
    spinImage: ghcr.io/example/spin:v3
    otel: { exporter_otlp_endpoint: "http://otel-collector:4318" }
"#,
    );
    let app = app(r#"
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinApp
metadata: { name: boxed, namespace: default }
spec:
  image: ghcr.io/example/hello:v1
  executor: spin-in-container
  imagePullSecrets: [{ name: ghcr-pull }, { name: mirror-pull }]
"#);
    check_golden("spin-image", &app, &exec, &ReferencedConfig::default());
}

#[test]
fn inline_runtime_config_renders_a_secret_and_mounts_it() {
    let app = app(r#"
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinApp
metadata: { name: notes, namespace: default }
spec:
  image: ghcr.io/example/notes:v1
  executor: containerd-shim-spin
  runtimeConfig:
    keyValueStores:
      - name: default
        type: spin
        options:
          - { name: path, value: data/kv.db }
      - { name: cache, type: spin }
      - name: shared
        type: redis
        options:
          - name: url
            valueFrom: { secretKeyRef: { name: notes-redis, key: url } }
    sqliteDatabases:
      - name: default
        type: spin
        options:
          - name: path
            valueFrom: { secretKeyRef: { name: notes-db, key: file } }
"#);
    let config = ReferencedConfig {
        options: [
            (
                "spec.runtimeConfig.sqliteDatabases[0].options[0]".to_string(),
                "notes.db".to_string(),
            ),
            (
                "spec.runtimeConfig.keyValueStores[2].options[0]".to_string(),
                "redis://redis.notes.svc:6379".to_string(),
            ),
        ]
        .into(),
        ..Default::default()
    };
    check_golden(
        "inline-runtime-config",
        &app,
        &executor(SHIM_EXECUTOR),
        &config,
    );
}

#[test]
fn config_hash_changes_with_referenced_data_only() {
    let a = ReferencedConfig {
        entries: vec![
            ("Secret/s/k".into(), b"1".to_vec()),
            ("ConfigMap/c/k".into(), b"x".to_vec()),
        ],
        ..Default::default()
    };
    let reordered = ReferencedConfig {
        entries: a.entries.iter().rev().cloned().collect(),
        ..Default::default()
    };
    let changed = ReferencedConfig {
        entries: vec![
            ("Secret/s/k".into(), b"2".to_vec()),
            ("ConfigMap/c/k".into(), b"x".to_vec()),
        ],
        ..Default::default()
    };
    assert_eq!(a.hash(), reordered.hash());
    assert_ne!(a.hash(), changed.hash());
    assert_eq!(ReferencedConfig::default().hash(), None);
}

/// The hash is keyed by the uids of the Secrets read: a reader of the Deployment, who
/// sees the hash but cannot read the Secrets, cannot test guesses of a value by hashing
/// them; the same value under a Secret recreated with a new uid rolls the pods.
#[test]
fn config_hash_is_keyed_by_the_secrets_uids() {
    use sha2::{Digest, Sha256};
    let entries = vec![("Secret/s/pin".to_string(), b"1234".to_vec())];
    let keyed = |uid: &str| ReferencedConfig {
        entries: entries.clone(),
        secret_uids: [uid.to_string()].into(),
        ..Default::default()
    };
    let one = keyed("0b7c6f2e-5a1d-4c8e-9f3a-2d4e6f8a0b1c")
        .hash()
        .unwrap();
    assert_eq!(
        Some(one.clone()),
        keyed("0b7c6f2e-5a1d-4c8e-9f3a-2d4e6f8a0b1c").hash(),
        "stable"
    );
    assert_ne!(Some(one.clone()), keyed("another-uid").hash());
    // A guesser's unkeyed hash of the same entries does not match.
    let mut guess = Sha256::new();
    guess.update((entries[0].0.len() as u64).to_le_bytes());
    guess.update(entries[0].0.as_bytes());
    guess.update(4u64.to_le_bytes());
    guess.update(b"1234");
    assert_ne!(one, hex::encode(&guess.finalize()[..16]));
}

#[test]
fn invalid_specs_name_the_field() {
    let cases = [
        (
            "spec: { image: '', executor: containerd-shim-spin }",
            "spec.image",
        ),
        (
            "spec: { image: x, replicas: -1 }",
            "spec.replicas: must not be negative",
        ),
        (
            "spec: { image: x, replicas: 2, enableAutoscaling: true }",
            "spec.replicas: cannot be set together",
        ),
        (
            "spec: { image: x, variables: [{ name: Bad-Name, value: v }] }",
            "spec.variables[0].name",
        ),
        (
            "spec: { image: x, variables: [{ name: a, value: v }, { name: a, value: w }] }",
            "spec.variables[1].name: \"a\" is set more than once",
        ),
        (
            "spec: { image: x, variables: [{ name: a }] }",
            "spec.variables[0]: set exactly one of value and valueFrom",
        ),
        (
            "spec: { image: x, components: [Not_Kebab] }",
            "spec.components[0]",
        ),
        (
            "spec: { image: x, checks: { readiness: { httpGet: { path: healthz } } } }",
            "spec.checks.readiness.httpGet.path",
        ),
        (
            "spec: { image: x, invocationLimits: { spin-kube.dev/maxRequestBody: lots } }",
            "spec.invocationLimits.spin-kube.dev/maxRequestBody: \"lots\": use a number of bytes",
        ),
        (
            "spec: { image: x, invocationLimits: { spin-kube.dev/maxRequestBodyy: 1Mi } }",
            "spec.invocationLimits.spin-kube.dev/maxRequestBodyy: is not an invocation limit of this executor",
        ),
        (
            "spec: { image: x, invocationLimits: { memory: 1Gi }, resources: { limits: { memory: 128Mi } } }",
            "spec.invocationLimits.memory: 1Gi is more than spec.resources.limits.memory",
        ),
        (
            "spec: { image: x, runtimeConfig: { keyValueStores: [{ name: cache, type: redis, options: [{ name: url, value: 'http://:hunter2@db' }] }] } }",
            "spec.runtimeConfig.keyValueStores[0]: `url` must be a redis:// or rediss:// URL",
        ),
        (
            "spec: { image: x, runtimeConfig: { sqliteDatabases: [{ name: default, type: spin, options: [{ name: paht, value: a.db }] }] } }",
            "spec.runtimeConfig.sqliteDatabases[0]: unknown key `paht`; this type takes `type`, `path`",
        ),
        (
            "spec: { image: x, runtimeConfig: { sqliteDatabases: [{ name: default, type: spin, options: [{ name: path, value: /etc/shadow }] }] } }",
            "spec.runtimeConfig.sqliteDatabases[0]: in a pod, `path` must be a relative path without `..`",
        ),
        (
            "spec: { image: x, runtimeConfig: { keyValueStores: [{ name: cache, type: spin }, { name: cache, type: spin }] } }",
            "spec.runtimeConfig.keyValueStores[1].name: \"cache\" is defined twice",
        ),
        (
            "spec: { image: x, runtimeConfig: { keyValueStores: [{ name: Bad Name, type: spin }] } }",
            "spec.runtimeConfig.keyValueStores[0].name: \"Bad Name\" is not a label",
        ),
        (
            "spec: { image: x, runtimeConfig: { keyValueStores: [{ name: cache, type: spin, options: [{ name: path }] }] } }",
            "spec.runtimeConfig.keyValueStores[0].options[0]: set either `value` or `valueFrom`",
        ),
        (
            "spec: { image: x, runtimeConfig: { keyValueStores: [{ name: cache, type: spin, options: [{ name: type, value: redis }] }] } }",
            "spec.runtimeConfig.keyValueStores[0].options[0].name: must name an option of the type",
        ),
        (
            "spec: { image: x, runtimeConfig: { llmCompute: { type: remote_http } } }",
            "spec.runtimeConfig.llmCompute: is not supported by this runtime yet",
        ),
    ];
    for (spec, expected) in cases {
        let app = app(&format!(
            "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {{ name: a }}\n{spec}\n"
        ));
        let errors = validate(&app, &executor(SHIM_EXECUTOR));
        let text = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        assert!(
            text.contains(expected),
            "expected {expected:?} for {spec}, got {text:?}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
    let bad_executor = executor(
        "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinAppExecutor\nmetadata: { name: broken }\nspec: { createDeployment: true }\n",
    );
    let app = app(
        "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: { name: a }\nspec: { image: x }\n",
    );
    let text = validate(&app, &bad_executor)[0].to_string();
    assert!(
        text.contains("SpinAppExecutor broken: spec.deploymentConfig")
            && text.contains("runtimeClassName"),
        "{text}"
    );
}

#[test]
fn crds_golden_files_and_examples_parse_with_kubectl() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kubernetes");
    let files: Vec<(String, String)> = std::fs::read_dir(golden_dir())
        .unwrap()
        .chain(std::fs::read_dir(examples).unwrap())
        .map(|e| e.unwrap().path())
        .chain([Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds/spinkube.crds.yaml")])
        .map(|path| {
            let dir = path
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap();
            let file = path.file_name().unwrap().to_str().unwrap();
            (
                format!("{dir}-{file}"),
                std::fs::read_to_string(&path).unwrap(),
            )
        })
        .collect();
    let Some(text) = kube_fake_api::kubectl::kustomize(&files) else {
        return;
    };
    assert!(
        text.contains("kind: Deployment")
            && text.contains("kind: Service")
            && text.contains("kind: SpinApp")
    );
}

#[test]
fn example_manifests_parse_validate_and_build() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kubernetes");
    let exec = executor(&std::fs::read_to_string(dir.join("executor.yaml")).unwrap());
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("spinapp-") {
            continue;
        }
        let mut app = app(&std::fs::read_to_string(&path).unwrap());
        app.metadata.namespace = Some("default".into());
        assert_eq!(validate(&app, &exec), vec![], "{name}");
        assert!(
            build(&app, &exec, &ReferencedConfig::default())
                .deployment
                .is_some(),
            "{name}"
        );
        seen += 1;
    }
    assert!(seen >= 3);
}
