use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, HTTPGetAction, HTTPHeader, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SecretVolumeSource, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use spin_app::settings::{self, InvocationLimit};
use spin_crds::spinapp::HealthProbe;
use spin_crds::{SpinApp, SpinAppExecutor};

use super::ports::{HTTP_PORT, HTTP_PORT_NAME};
use super::{ReferencedConfig, spin_image};
use crate::labels;

/// Where the runtime config file is mounted in the app container.
pub const RUNTIME_CONFIG_PATH: &str = "/runtime-config.toml";
const RUNTIME_CONFIG_VOLUME: &str = "spin-runtime-config";

pub fn build(
    app: &SpinApp,
    executor: &SpinAppExecutor,
    config: &ReferencedConfig,
    owner: &OwnerReference,
) -> Deployment {
    let name = app.metadata.name.clone().unwrap_or_default();
    let spec = &app.spec;
    let deployment_config = executor.spec.deployment_config.clone().unwrap_or_default();

    let mut pod_labels = spec.pod_labels.clone();
    pod_labels.extend(labels::selector(&name));
    let mut pod_annotations = spec.pod_annotations.clone();
    if let Some(hash) = config.hash() {
        pod_annotations.insert(labels::CONFIG_HASH.into(), hash);
    }

    let mut env = vec![EnvVar {
        name: "SPIN_HTTP_LISTEN_ADDR".into(),
        value: Some(format!("0.0.0.0:{HTTP_PORT}")),
        ..Default::default()
    }];
    for var in &spec.variables {
        env.push(EnvVar {
            name: format!("SPIN_VARIABLE_{}", var.name.to_ascii_uppercase()),
            value: var.value.clone(),
            value_from: var.value_from.clone(),
        });
    }
    if !spec.components.is_empty() {
        env.push(EnvVar {
            name: "SPIN_COMPONENTS_TO_RETAIN".into(),
            value: Some(spec.components.join(",")),
            ..Default::default()
        });
    }
    // Invocation limits the executor knows become the shim's settings (validated
    // before the build; values normalised to numbers).
    for (key, value) in &spec.invocation_limits {
        if let InvocationLimit::Known(setting) = settings::invocation_limit(key)
            && let Ok(n) = setting.kind.parse(value)
        {
            env.push(EnvVar {
                name: setting.env.into(),
                value: Some(n.to_string()),
                ..Default::default()
            });
        }
    }
    if let Some(otel) = &deployment_config.otel {
        for (key, value) in [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &otel.exporter_otlp_endpoint),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                &otel.exporter_otlp_traces_endpoint,
            ),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                &otel.exporter_otlp_metrics_endpoint,
            ),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                &otel.exporter_otlp_logs_endpoint,
            ),
        ] {
            if let Some(value) = value {
                env.push(EnvVar {
                    name: key.into(),
                    value: Some(value.clone()),
                    ..Default::default()
                });
            }
        }
    }

    let mut volumes = spec.volumes.clone();
    let mut mounts = spec.volume_mounts.clone();
    let mut args = Vec::new();
    let runtime_config_secret = match &spec.runtime_config.load_from_secret {
        Some(secret) => Some(secret.clone()),
        None => {
            super::runtime_config::is_inline(app).then(|| super::runtime_config::secret_name(app))
        }
    };
    if let Some(secret) = runtime_config_secret {
        volumes.push(Volume {
            name: RUNTIME_CONFIG_VOLUME.into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: RUNTIME_CONFIG_VOLUME.into(),
            mount_path: RUNTIME_CONFIG_PATH.into(),
            sub_path: Some(super::runtime_config::KEY.into()),
            read_only: Some(true),
            ..Default::default()
        });
        args.extend([
            "--runtime-config-file".to_string(),
            RUNTIME_CONFIG_PATH.to_string(),
        ]);
    }

    // With a RuntimeClass the shim runs the app from the image's Wasm layers and the
    // command is a placeholder containerd requires; with `spinImage` a Spin binary in
    // an ordinary container pulls and runs the app.
    let mut security_context = None;
    let (image, command) = match &deployment_config.spin_image {
        Some(spin_image) => {
            let pod = spin_image::pod(spec);
            args.splice(0..0, pod.args);
            volumes.extend(pod.volumes);
            mounts.extend(pod.mounts);
            env.extend(pod.env);
            security_context = Some(pod.security_context);
            (spin_image.clone(), None)
        }
        None => (spec.image.clone(), Some(vec!["/".to_string()])),
    };

    let container = Container {
        name: name.clone(),
        image: Some(image),
        command,
        args: (!args.is_empty()).then_some(args),
        ports: Some(vec![ContainerPort {
            name: Some(HTTP_PORT_NAME.into()),
            container_port: HTTP_PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        env: Some(env),
        resources: (!spec.resources.is_empty()).then(|| ResourceRequirements {
            limits: (!spec.resources.limits.is_empty()).then(|| spec.resources.limits.clone()),
            requests: (!spec.resources.requests.is_empty())
                .then(|| spec.resources.requests.clone()),
            ..Default::default()
        }),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        readiness_probe: spec.checks.readiness.as_ref().map(probe),
        liveness_probe: spec.checks.liveness.as_ref().map(probe),
        ..Default::default()
    };

    Deployment {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: app.metadata.namespace.clone(),
            labels: Some(labels::owned(&name)),
            annotations: (!spec.deployment_annotations.is_empty())
                .then(|| spec.deployment_annotations.clone()),
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            // Under server-side apply, leaving replicas out hands them to the autoscaler.
            replicas: (!spec.enable_autoscaling).then(|| spec.replicas.unwrap_or(1)),
            selector: LabelSelector {
                match_labels: Some(labels::selector(&name)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: (!pod_annotations.is_empty()).then_some(pod_annotations),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    runtime_class_name: deployment_config.runtime_class_name.clone(),
                    image_pull_secrets: (!spec.image_pull_secrets.is_empty())
                        .then(|| spec.image_pull_secrets.clone()),
                    service_account_name: spec.service_account_name.clone(),
                    security_context,
                    volumes: (!volumes.is_empty()).then_some(volumes),
                    containers: vec![container],
                    // Kubernetes merges these with the RuntimeClass's scheduling at
                    // admission (and refuses a pod whose node selector conflicts).
                    node_selector: (!spec.node_selector.is_empty())
                        .then(|| spec.node_selector.clone()),
                    tolerations: (!spec.tolerations.is_empty()).then(|| spec.tolerations.clone()),
                    affinity: spec.affinity.clone(),
                    topology_spread_constraints: (!spec.topology_spread_constraints.is_empty())
                        .then(|| spec.topology_spread_constraints.clone()),
                    priority_class_name: spec.priority_class_name.clone(),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

fn probe(p: &HealthProbe) -> Probe {
    let get = p.http_get.clone().unwrap_or_default();
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(if get.path.is_empty() {
                "/".into()
            } else {
                get.path
            }),
            port: IntOrString::String(HTTP_PORT_NAME.into()),
            http_headers: (!get.http_headers.is_empty()).then(|| {
                get.http_headers
                    .into_iter()
                    .map(|h| HTTPHeader {
                        name: h.name,
                        value: h.value,
                    })
                    .collect()
            }),
            ..Default::default()
        }),
        initial_delay_seconds: Some(p.initial_delay_seconds.unwrap_or(10)),
        timeout_seconds: Some(p.timeout_seconds.unwrap_or(1)),
        period_seconds: Some(p.period_seconds.unwrap_or(10)),
        success_threshold: Some(p.success_threshold.unwrap_or(1)),
        failure_threshold: Some(p.failure_threshold.unwrap_or(3)),
        ..Default::default()
    }
}
