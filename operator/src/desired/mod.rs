//! The desired children of a SpinApp, computed without touching the API server.

mod deployment;
mod ports;
pub mod runtime_config;
mod service;
mod spin_image;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use spin_crds::{SpinApp, SpinAppExecutor};

pub use deployment::RUNTIME_CONFIG_PATH;

/// Data of the Secrets and ConfigMaps the app refers to, as read by the dereference
/// step: its hash goes into the pod template so a change rolls the pods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferencedConfig {
    /// `(kind/name/key, value)` pairs, in any order.
    pub entries: Vec<(String, Vec<u8>)>,
    /// Values of inline runtime config options given by `valueFrom`.
    pub options: runtime_config::ResolvedOptions,
    /// What the hash is keyed with: the uids of the Secrets read (random, and visible
    /// only to those who may read the Secrets), so that the hash in the pod template
    /// does not let a reader of Deployments test guesses of a weak secret value.
    pub secret_uids: std::collections::BTreeSet<String>,
}

impl ReferencedConfig {
    /// A stable hash of the entries (HMAC-SHA-256 keyed by [`Self::secret_uids`]);
    /// `None` when the app refers to nothing. It changes when a value changes, and when
    /// a Secret is replaced by a new one of the same name.
    pub fn hash(&self) -> Option<String> {
        use hmac::{Hmac, Mac};
        if self.entries.is_empty() {
            return None;
        }
        let key: Vec<u8> = self
            .secret_uids
            .iter()
            .flat_map(|uid| [uid.as_bytes(), b"\n"].concat())
            .collect();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key");
        let mut entries: Vec<_> = self.entries.iter().collect();
        entries.sort();
        for (name, value) in entries {
            mac.update(&(name.len() as u64).to_le_bytes());
            mac.update(name.as_bytes());
            mac.update(&(value.len() as u64).to_le_bytes());
            mac.update(value);
        }
        Some(hex::encode(&mac.finalize().into_bytes()[..16]))
    }
}

/// What the cluster should hold for one SpinApp.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// `None` when the executor does not create Deployments.
    pub deployment: Option<Deployment>,
    pub service: Service,
    /// The rendered inline runtime config, when the app has one.
    pub runtime_config: Option<Secret>,
}

/// Builds the children of a validated app (see [`crate::validate`]).
pub fn build(app: &SpinApp, executor: &SpinAppExecutor, config: &ReferencedConfig) -> Desired {
    let owner = owner_reference(app);
    let rendered = runtime_config::render(app, &config.options);
    // The rendered file is part of what the pods run with: its change rolls them.
    let mut config = config.clone();
    if let Some(rendered) = &rendered {
        config.entries.push((
            format!(
                "Secret/{}/{}",
                runtime_config::secret_name(app),
                runtime_config::KEY
            ),
            rendered.as_bytes().to_vec(),
        ));
    }
    Desired {
        deployment: executor
            .spec
            .create_deployment
            .then(|| deployment::build(app, executor, &config, &owner)),
        service: service::build(app, &owner),
        runtime_config: rendered.map(|r| runtime_config::secret(app, &r, &owner)),
    }
}

fn owner_reference(app: &SpinApp) -> OwnerReference {
    app.controller_owner_ref(&())
        .unwrap_or_else(|| OwnerReference {
            api_version: SpinApp::api_version(&()).into(),
            kind: SpinApp::kind(&()).into(),
            name: app.metadata.name.clone().unwrap_or_default(),
            uid: app.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        })
}
