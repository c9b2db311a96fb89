//! `SpinAppExecutor`: how SpinApps that name it are run.

use kube::CustomResource;
use serde::{Deserialize, Serialize};

#[derive(
    CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema,
)]
#[kube(
    group = "core.spinkube.dev",
    version = "v1alpha1",
    kind = "SpinAppExecutor",
    namespaced,
    status = "SpinAppExecutorStatus",
    shortname = "sae",
    doc = "How SpinApps that name this executor are run."
)]
#[serde(rename_all = "camelCase")]
pub struct SpinAppExecutorSpec {
    /// Whether the operator creates a Deployment for each app (else only the Service,
    /// for apps run by something else).
    pub create_deployment: bool,
    /// Settings of the Deployments the operator creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_config: Option<ExecutorDeploymentConfig>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
pub struct SpinAppExecutorStatus {}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutorDeploymentConfig {
    /// RuntimeClass of the app pods (`wasmtime-spin-v2` selects our shim). Excludes `spinImage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<String>,
    /// Run apps in an ordinary container image that embeds Spin instead of a RuntimeClass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spin_image: Option<String>,
    /// Mount the default CA certificates into app pods.
    #[serde(
        default,
        skip_serializing_if = "std::ops::Not::not",
        rename = "installDefaultCACerts"
    )]
    pub install_default_ca_certs: bool,
    /// OpenTelemetry settings passed to the app as environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otel: Option<OtelConfig>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
pub struct OtelConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exporter_otlp_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exporter_otlp_traces_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exporter_otlp_metrics_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exporter_otlp_logs_endpoint: Option<String>,
}
