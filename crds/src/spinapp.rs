//! `SpinApp`: a Spin application to run, from an OCI image.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvVarSource, LocalObjectReference, Toleration, TopologySpreadConstraint, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Desired state of a Spin app.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[kube(
    group = "core.spinkube.dev",
    version = "v1alpha1",
    kind = "SpinApp",
    namespaced,
    status = "SpinAppStatus",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    shortname = "spa",
    doc = "A Spin application run from an OCI image by a SpinAppExecutor.",
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "Desired", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Executor", type_ = "string", json_path = ".spec.executor"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Image", type_ = "string", json_path = ".spec.image", priority = "1"),
    printcolumn(name = "Deployment", type_ = "string", json_path = ".status.deploymentName", priority = "1"),
    printcolumn(name = "Service", type_ = "string", json_path = ".status.serviceName", priority = "1"),
    validation = Rule::new("!(has(self.spec.enableAutoscaling) && self.spec.enableAutoscaling && has(self.spec.replicas))")
        .message("spec.replicas cannot be set when spec.enableAutoscaling is true: remove one of them")
)]
#[serde(rename_all = "camelCase")]
pub struct SpinAppSpec {
    /// The SpinAppExecutor that runs the app (e.g. `containerd-shim-spin`). When empty,
    /// the operator picks the namespace's only executor, or the one annotated
    /// `spin-kube.dev/default-executor: "true"`, and otherwise reports which to choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<String>,

    /// OCI reference of the app, as pushed by `spin registry push` or `spin kube push`.
    #[x_kube(validation = Rule::new("self.size() > 0").message("spec.image must name an OCI image"))]
    pub image: String,

    /// Secrets in the same namespace used to pull the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,

    /// Readiness and liveness probes.
    #[serde(default, skip_serializing_if = "HealthChecks::is_empty")]
    pub checks: HealthChecks,

    /// Number of replicas; 1 when neither this nor `enableAutoscaling` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0").message("spec.replicas must not be negative"))]
    pub replicas: Option<i32>,

    /// Leave the replica count to an autoscaler (HPA, KEDA). Excludes `replicas`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable_autoscaling: bool,

    /// Runtime configuration (key-value stores, SQLite databases, LLM compute).
    #[serde(default, skip_serializing_if = "RuntimeConfig::is_empty")]
    pub runtime_config: RuntimeConfig,

    /// Volumes of the app's pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,

    /// Where volumes are mounted in the app container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,

    /// Values for the app's Spin variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<SpinVar>,

    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_annotations: BTreeMap<String, String>,

    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deployment_annotations: BTreeMap<String, String>,

    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,

    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_labels: BTreeMap<String, String>,

    /// CPU and memory for the app container.
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,

    /// Run only these components of the app (`SPIN_COMPONENTS_TO_RETAIN`); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,

    /// Service account of the app's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,

    /// Limits applied per request, by name; executors define which they honour.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub invocation_limits: BTreeMap<String, String>,

    /// Node labels the app's pods must run on (merged by Kubernetes with the
    /// RuntimeClass's `scheduling.nodeSelector`; a conflict is refused at pod admission).
    /// An addition to SpinKube's fields.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,

    /// Taints the app's pods tolerate (added to the RuntimeClass's
    /// `scheduling.tolerations`). An addition to SpinKube's fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,

    /// Node and pod (anti-)affinity of the app's pods. An addition to SpinKube's fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,

    /// How the app's pods spread across zones or nodes. An addition to SpinKube's fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,

    /// PriorityClass of the app's pods. An addition to SpinKube's fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

/// Observed state of a Spin app.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpinAppStatus {
    /// `Available`, `Progressing` and `Ready`, with reason and message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The executor running the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_scheduler: Option<String>,
    /// Replicas of the app's Deployment that are ready.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Replicas of the app's Deployment that exist (the scale subresource's count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// The label selector of the app's pods, as text (the scale subresource's selector,
    /// which an HPA uses to find the pods' metrics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// The Deployment running the app (none for executors that create none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_name: Option<String>,
    /// The Service in front of the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
}

/// A Spin variable's value: literal, or from a Secret or ConfigMap key.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpinVar {
    /// Variable name as in spin.toml (`api_key`).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Quantity>,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.requests.is_empty()
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthChecks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<HealthProbe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<HealthProbe>,
}

impl HealthChecks {
    pub fn is_empty(&self) -> bool {
        self.readiness.is_none() && self.liveness.is_none()
    }
}

/// An HTTP probe against the app.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthProbe {
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "httpGet")]
    pub http_get: Option<HttpHealthProbe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i32>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpHealthProbe {
    /// Path to request, e.g. `/healthz` or `/.well-known/spin/health`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", rename = "httpHeaders")]
    pub http_headers: Vec<HttpHeader>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

/// Runtime configuration of the app.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfig {
    /// Secret holding `runtime-config.toml`; when set, the other fields are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_from_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sqlite_databases: Vec<RuntimeConfigEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_value_stores: Vec<RuntimeConfigEntry>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "llmCompute"
    )]
    pub llm_compute: Option<LlmCompute>,
}

impl RuntimeConfig {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// A named store or database and its backend.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
pub struct RuntimeConfigEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<RuntimeConfigOption>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
pub struct LlmCompute {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<RuntimeConfigOption>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfigOption {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<RuntimeConfigVarSource>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfigVarSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<k8s_openapi::api::core::v1::ConfigMapKeySelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<k8s_openapi::api::core::v1::SecretKeySelector>,
}
