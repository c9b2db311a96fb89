//! What the pod of a `spinImage` executor needs beyond the container image: a Spin
//! binary in an ordinary container (Spin's own image, or our `spin-run` image) runs
//! `up --listen 0.0.0.0:80 --from IMAGE`, so it pulls the app itself, with the app's
//! image pull secrets as credentials.
//!
//! - Each `imagePullSecrets` Secret (type `kubernetes.io/dockerconfigjson`) is mounted
//!   read-only at `/var/run/secrets/spin-kube/registry/<index>/config.json`, and
//!   `SPIN_DOCKER_CONFIG` lists those files for `spin-run` (tried in order).
//! - The pod allows unprivileged processes to bind port 80 in its own network namespace
//!   (`net.ipv4.ip_unprivileged_port_start=0`, a Kubernetes "safe" sysctl), so a
//!   non-root Spin binary can listen where the Service sends traffic.

use k8s_openapi::api::core::v1::{
    EnvVar, KeyToPath, PodSecurityContext, SecretVolumeSource, Sysctl, Volume, VolumeMount,
};
use spin_crds::spinapp::SpinAppSpec;

use super::ports::HTTP_PORT;

/// Where the pull secrets are mounted.
pub const REGISTRY_CONFIG_DIR: &str = "/var/run/secrets/spin-kube/registry";
/// The key of a `kubernetes.io/dockerconfigjson` Secret.
const DOCKER_CONFIG_JSON_KEY: &str = ".dockerconfigjson";

/// The additions to the pod of a `spinImage` executor.
#[derive(Debug, Default)]
pub struct SpinImagePod {
    /// The container's leading arguments.
    pub args: Vec<String>,
    pub volumes: Vec<Volume>,
    pub mounts: Vec<VolumeMount>,
    pub env: Vec<EnvVar>,
    pub security_context: PodSecurityContext,
}

pub fn pod(spec: &SpinAppSpec) -> SpinImagePod {
    let mut pod = SpinImagePod {
        args: vec![
            "up".into(),
            "--listen".into(),
            format!("0.0.0.0:{HTTP_PORT}"),
            "--from".into(),
            spec.image.clone(),
        ],
        security_context: PodSecurityContext {
            sysctls: Some(vec![Sysctl {
                name: "net.ipv4.ip_unprivileged_port_start".into(),
                value: "0".into(),
            }]),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut configs = Vec::new();
    for (index, secret) in spec.image_pull_secrets.iter().enumerate() {
        let volume = format!("spin-pull-secret-{index}");
        let dir = format!("{REGISTRY_CONFIG_DIR}/{index}");
        pod.volumes.push(Volume {
            name: volume.clone(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.name.clone()),
                items: Some(vec![KeyToPath {
                    key: DOCKER_CONFIG_JSON_KEY.into(),
                    path: "config.json".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
        pod.mounts.push(VolumeMount {
            name: volume,
            mount_path: dir.clone(),
            read_only: Some(true),
            ..Default::default()
        });
        configs.push(format!("{dir}/config.json"));
    }
    if !configs.is_empty() {
        pod.env.push(EnvVar {
            name: "SPIN_DOCKER_CONFIG".into(),
            value: Some(configs.join(",")),
            ..Default::default()
        });
    }
    pod
}
