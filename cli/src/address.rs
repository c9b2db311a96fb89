//! Where an app answers: its Service's in-cluster URL.

use k8s_openapi::api::core::v1::Service;
use kube::api::Api;

use crate::cluster::Target;
use crate::error::ClusterError;

/// An app's Service, as a client inside the cluster reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// `http://NAME.NAMESPACE.svc.cluster.local:PORT`.
    pub url: String,
    pub cluster_ip: Option<String>,
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.url)?;
        if let Some(ip) = &self.cluster_ip {
            write!(f, " (ClusterIP {ip})")?;
        }
        Ok(())
    }
}

/// The address of `service`: its first port (80 when it lists none).
pub fn of(service: &Service) -> Address {
    let name = service.metadata.name.as_deref().unwrap_or_default();
    let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
    let spec = service.spec.clone().unwrap_or_default();
    let port = spec
        .ports
        .unwrap_or_default()
        .first()
        .map(|p| p.port)
        .unwrap_or(80);
    Address {
        url: format!("http://{name}.{namespace}.svc.cluster.local:{port}"),
        cluster_ip: spec.cluster_ip.filter(|ip| !ip.is_empty() && ip != "None"),
    }
}

/// The Service named like the app (the operator names it so), if it exists.
pub async fn service(target: &Target, app: &str) -> Result<Option<Service>, ClusterError> {
    let api: Api<Service> = Api::namespaced(target.client.clone(), &target.namespace);
    api.get_opt(app)
        .await
        .map_err(|e| target.refused(e, "get", "services", Some(app)))
}
