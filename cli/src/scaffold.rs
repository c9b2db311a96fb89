//! `scaffold`: the SpinApp manifest for an image, and what it needs around it (a
//! runtime-config Secret, an HPA or a KEDA ScaledObject). Pure: options in, documents out.
//!
//! Output follows SpinKube's `spin kube scaffold` (same flags, names and shapes:
//! `<app>-runtime-config`, `<app>-autoscaler`), except that the Secret comes before
//! the SpinApp so that applying the documents in order never leaves the SpinApp
//! waiting for its Secret.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::ByteString;
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{LocalObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::ObjectMeta;
use serde_yaml::Value;
use spin_crds::spinapp::{Resources, RuntimeConfig, SpinVar};
use spin_crds::{SpinApp, SpinAppSpec};

use crate::error::ScaffoldError;
use crate::reference;

/// The executor SpinKube's chart installs, and ours.
pub const DEFAULT_EXECUTOR: &str = "containerd-shim-spin";
/// The key of the runtime config file in its Secret (what the operator mounts).
pub const RUNTIME_CONFIG_KEY: &str = "runtime-config.toml";

/// Which autoscaler scales the app's Deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Autoscaler {
    /// A Kubernetes HorizontalPodAutoscaler (autoscaling/v2).
    Hpa,
    /// A KEDA ScaledObject (keda.sh/v1alpha1); KEDA must be installed.
    Keda,
}

/// What an autoscaler scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScaleTarget {
    /// The app's Deployment, with `enableAutoscaling` on the SpinApp (SpinKube's way).
    Deployment,
    /// The SpinApp itself, through its scale subresource; `replicas` is left to the
    /// autoscaler.
    Spinapp,
}

/// What to scaffold; the flags of `scaffold` and `deploy`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScaffoldOptions {
    /// Name of the SpinApp; defaults to the image's last path segment.
    #[arg(long)]
    pub name: Option<String>,
    /// Replicas, or the minimum replicas when an autoscaler is used.
    #[arg(long, short = 'r', default_value_t = 2)]
    pub replicas: i32,
    /// The SpinAppExecutor that runs the app.
    #[arg(long, default_value = DEFAULT_EXECUTOR)]
    pub executor: String,
    /// Scale with an autoscaler instead of a fixed replica count (needs --cpu-limit and --memory-limit).
    #[arg(long, value_enum)]
    pub autoscaler: Option<Autoscaler>,
    /// What the autoscaler scales.
    #[arg(long, value_enum, default_value = "deployment")]
    pub autoscaler_target: ScaleTarget,
    /// Maximum replicas for the autoscaler.
    #[arg(long, default_value_t = 3)]
    pub max_replicas: i32,
    /// Target average CPU utilization (% of the request) for the autoscaler.
    #[arg(long, default_value_t = 60)]
    pub autoscaler_target_cpu_utilization: i32,
    /// Target average memory utilization (% of the request) for the autoscaler.
    #[arg(long, default_value_t = 60)]
    pub autoscaler_target_memory_utilization: i32,
    /// CPU limit of each pod (e.g. 100m).
    #[arg(long)]
    pub cpu_limit: Option<String>,
    /// Memory limit of each pod (e.g. 128Mi).
    #[arg(long)]
    pub memory_limit: Option<String>,
    /// CPU request of each pod; Kubernetes uses the limit when unset.
    #[arg(long)]
    pub cpu_request: Option<String>,
    /// Memory request of each pod; Kubernetes uses the limit when unset.
    #[arg(long)]
    pub memory_request: Option<String>,
    /// A Spin variable value, NAME=VALUE (repeatable).
    #[arg(long = "variable", short = 'v', value_name = "NAME=VALUE")]
    pub variables: Vec<String>,
    /// A Spin runtime config file, shipped as a Secret.
    #[arg(long, short = 'c')]
    pub runtime_config_file: Option<PathBuf>,
    /// A Secret used to pull the image (repeatable).
    #[arg(long = "image-pull-secret", short = 's', value_name = "SECRET")]
    pub image_pull_secrets: Vec<String>,
    /// Run only these components (repeatable or comma-separated).
    #[arg(long = "component", alias = "components", value_delimiter = ',')]
    pub components: Vec<String>,
}

impl ScaffoldOptions {
    /// The options with every flag at its default.
    pub fn defaults() -> Self {
        Self {
            name: None,
            replicas: 2,
            executor: DEFAULT_EXECUTOR.into(),
            autoscaler: None,
            autoscaler_target: ScaleTarget::Deployment,
            max_replicas: 3,
            autoscaler_target_cpu_utilization: 60,
            autoscaler_target_memory_utilization: 60,
            cpu_limit: None,
            memory_limit: None,
            cpu_request: None,
            memory_request: None,
            variables: vec![],
            runtime_config_file: None,
            image_pull_secrets: vec![],
            components: vec![],
        }
    }
}

/// The documents for `image`, in apply order.
pub fn scaffold(image: &str, opts: &ScaffoldOptions) -> Result<Vec<Value>, ScaffoldError> {
    let parsed = reference::parse(image)?;
    let name = match &opts.name {
        Some(name) => name.clone(),
        None => reference::app_name(&parsed).to_string(),
    };
    if !is_dns_label(&name) {
        let flag_hint = if opts.name.is_some() {
            "it"
        } else {
            "the name taken from the image; pass --name"
        };
        return Err(ScaffoldError::flag(
            "name",
            format!(
                "{name:?} is not a valid SpinApp name (lowercase letters, digits and '-', at most 63, starting and ending alphanumeric); change {flag_hint}"
            ),
        ));
    }
    if opts.executor.is_empty() {
        return Err(ScaffoldError::flag("executor", "must not be empty"));
    }
    if opts.replicas < 0 {
        return Err(ScaffoldError::flag("replicas", "must not be negative"));
    }

    let mut docs = Vec::new();
    let mut spec = SpinAppSpec {
        image: image.to_string(),
        executor: Some(opts.executor.clone()),
        resources: resources(opts)?,
        variables: variables(&opts.variables)?,
        image_pull_secrets: opts
            .image_pull_secrets
            .iter()
            .map(|s| LocalObjectReference { name: s.clone() })
            .collect(),
        components: components(&opts.components)?,
        ..Default::default()
    };
    if let Some(path) = &opts.runtime_config_file {
        let secret_name = format!("{name}-runtime-config");
        docs.push(runtime_config_secret(&secret_name, path)?);
        spec.runtime_config = RuntimeConfig {
            load_from_secret: Some(secret_name),
            ..Default::default()
        };
    }
    let autoscaler = match opts.autoscaler {
        None => {
            spec.replicas = Some(opts.replicas);
            None
        }
        Some(kind) => {
            check_autoscaling(opts, kind)?;
            // Targeting the SpinApp, neither field is set: the autoscaler writes
            // `spec.replicas` through the scale subresource, and leaving it out of what
            // is applied keeps a re-deploy from taking it back.
            spec.enable_autoscaling = opts.autoscaler_target == ScaleTarget::Deployment;
            Some(match kind {
                Autoscaler::Hpa => hpa(&name, opts),
                Autoscaler::Keda => scaled_object(&name, opts),
            })
        }
    };
    let app = SpinApp {
        metadata: ObjectMeta {
            name: Some(name),
            ..Default::default()
        },
        spec,
        status: None,
    };
    docs.push(to_value(&app));
    docs.extend(autoscaler);
    Ok(docs)
}

/// Documents as one multi-document YAML stream.
pub fn to_yaml(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| serde_yaml::to_string(d).expect("documents serialize"))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// YAML values keep the field order of the Kubernetes types (apiVersion, kind,
/// metadata, spec), unlike JSON maps.
fn to_value(object: &impl serde::Serialize) -> Value {
    serde_yaml::to_value(object).expect("Kubernetes objects serialize")
}

fn resources(opts: &ScaffoldOptions) -> Result<Resources, ScaffoldError> {
    let mut out = Resources::default();
    for (flag, value, is_limit, key) in [
        ("cpu-limit", &opts.cpu_limit, true, "cpu"),
        ("memory-limit", &opts.memory_limit, true, "memory"),
        ("cpu-request", &opts.cpu_request, false, "cpu"),
        ("memory-request", &opts.memory_request, false, "memory"),
    ] {
        let Some(value) = value else { continue };
        if !is_quantity(value) {
            return Err(ScaffoldError::flag(
                flag,
                format!("{value:?} is not a Kubernetes quantity (e.g. 100m, 0.5, 128Mi, 1Gi)"),
            ));
        }
        let map = if is_limit {
            &mut out.limits
        } else {
            &mut out.requests
        };
        map.insert(key.to_string(), Quantity(value.clone()));
    }
    Ok(out)
}

fn variables(pairs: &[String]) -> Result<Vec<SpinVar>, ScaffoldError> {
    let mut seen = BTreeMap::new();
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(ScaffoldError::flag(
                "variable",
                format!("{pair:?} is not NAME=VALUE"),
            ));
        };
        if !spin_app::ids::is_lower_snake_id(name) {
            return Err(ScaffoldError::flag(
                "variable",
                format!(
                    "{name:?} is not a Spin variable name (lowercase letters, digits and '_', starting with a letter)"
                ),
            ));
        }
        seen.insert(name.to_string(), value.to_string());
    }
    Ok(seen
        .into_iter()
        .map(|(name, value)| SpinVar {
            name,
            value: Some(value),
            value_from: None,
        })
        .collect())
}

fn components(ids: &[String]) -> Result<Vec<String>, ScaffoldError> {
    for id in ids {
        if !spin_app::ids::is_kebab_id(id) {
            return Err(ScaffoldError::flag(
                "component",
                format!("{id:?} is not a Spin component id (kebab-case, e.g. `hello-world`)"),
            ));
        }
    }
    Ok(ids.to_vec())
}

fn runtime_config_secret(name: &str, path: &std::path::Path) -> Result<Value, ScaffoldError> {
    let bytes = std::fs::read(path).map_err(|source| ScaffoldError::RuntimeConfig {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |problem: String| ScaffoldError::RuntimeConfig {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, problem),
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| invalid(format!("not UTF-8: {e}")))?;
    text.parse::<toml::Table>()
        .map_err(|e| invalid(format!("not valid TOML: {e}")))?;
    Ok(to_value(&Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some([(RUNTIME_CONFIG_KEY.to_string(), ByteString(bytes))].into()),
        ..Default::default()
    }))
}

fn check_autoscaling(opts: &ScaffoldOptions, kind: Autoscaler) -> Result<(), ScaffoldError> {
    if opts.cpu_limit.is_none() || opts.memory_limit.is_none() {
        return Err(ScaffoldError::flag(
            "autoscaler",
            "needs --cpu-limit and --memory-limit: utilization targets are a share of each pod's resources",
        ));
    }
    let min = if kind == Autoscaler::Hpa { 1 } else { 0 };
    if opts.replicas < min {
        return Err(ScaffoldError::flag(
            "replicas",
            format!("the minimum replicas for {kind:?} must be at least {min}"),
        ));
    }
    if opts.max_replicas < opts.replicas.max(1) {
        return Err(ScaffoldError::flag(
            "max-replicas",
            format!(
                "{} is below --replicas {} (the minimum)",
                opts.max_replicas, opts.replicas
            ),
        ));
    }
    for (flag, value) in [
        (
            "autoscaler-target-cpu-utilization",
            opts.autoscaler_target_cpu_utilization,
        ),
        (
            "autoscaler-target-memory-utilization",
            opts.autoscaler_target_memory_utilization,
        ),
    ] {
        if value <= 0 {
            return Err(ScaffoldError::flag(flag, "must be a positive percentage"));
        }
    }
    Ok(())
}

fn scale_target(name: &str, target: ScaleTarget) -> CrossVersionObjectReference {
    let (api_version, kind) = match target {
        ScaleTarget::Deployment => ("apps/v1", "Deployment"),
        ScaleTarget::Spinapp => ("core.spinkube.dev/v1alpha1", "SpinApp"),
    };
    CrossVersionObjectReference {
        api_version: Some(api_version.into()),
        kind: kind.into(),
        name: name.into(),
    }
}

fn hpa(name: &str, opts: &ScaffoldOptions) -> Value {
    let metric = |resource: &str, utilization: i32| MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: resource.into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(utilization),
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    to_value(&HorizontalPodAutoscaler {
        metadata: ObjectMeta {
            name: Some(format!("{name}-autoscaler")),
            ..Default::default()
        },
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: scale_target(name, opts.autoscaler_target),
            min_replicas: Some(opts.replicas),
            max_replicas: opts.max_replicas,
            metrics: Some(vec![
                metric("cpu", opts.autoscaler_target_cpu_utilization),
                metric("memory", opts.autoscaler_target_memory_utilization),
            ]),
            ..Default::default()
        }),
        status: None,
    })
}

fn scaled_object(name: &str, opts: &ScaffoldOptions) -> Value {
    // Written as YAML to keep KEDA's documented field order; every value is a checked
    // name or a number.
    let target = scale_target(name, opts.autoscaler_target);
    let yaml = format!(
        "apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {name}-autoscaler
spec:
  scaleTargetRef:
    apiVersion: {api_version}
    kind: {kind}
    name: {name}
  minReplicaCount: {min}
  maxReplicaCount: {max}
  triggers:
  - type: cpu
    metricType: Utilization
    metadata:
      value: \"{cpu}\"
  - type: memory
    metricType: Utilization
    metadata:
      value: \"{memory}\"
",
        api_version = target.api_version.unwrap_or_default(),
        kind = target.kind,
        min = opts.replicas,
        max = opts.max_replicas,
        cpu = opts.autoscaler_target_cpu_utilization,
        memory = opts.autoscaler_target_memory_utilization,
    );
    serde_yaml::from_str(&yaml).expect("the ScaledObject template is valid YAML")
}

/// RFC 1123 label: what Deployment and Service names must be.
fn is_dns_label(s: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| ok(c) || c == '-')
        && s.starts_with(ok)
        && s.ends_with(ok)
}

/// A Kubernetes resource quantity: a decimal number with an optional SI, binary or
/// exponent suffix (`100m`, `0.5`, `128Mi`, `1e3`).
fn is_quantity(s: &str) -> bool {
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    let number = number.strip_prefix(['+', '-']).unwrap_or(number);
    let number_ok = !number.is_empty()
        && number.chars().filter(|&c| c == '.').count() <= 1
        && number.chars().any(|c| c.is_ascii_digit())
        && number.chars().all(|c| c.is_ascii_digit() || c == '.');
    let suffix_ok = matches!(
        suffix,
        "" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"
    ) || suffix
        .strip_prefix(['e', 'E'])
        .and_then(|e| e.strip_prefix(['+', '-']).or(Some(e)))
        .is_some_and(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()));
    number_ok && suffix_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        for good in ["100m", "0.5", "2", "128Mi", "1Gi", "1e3", "1.5G"] {
            assert!(is_quantity(good), "{good}");
        }
        for bad in ["", "m", "100mm", "1.2.3", "12 Mi", "1MB", "abc"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("hello-app2"));
        for bad in ["Hello", "-a", "a-", "a_b", "", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }
}
