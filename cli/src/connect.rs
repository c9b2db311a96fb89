//! `connect NAME`: a local port forwarded to one ready pod of the app, as `kubectl
//! port-forward svc/NAME` does it: the Service's target port, on a pod it selects, each
//! local connection over its own port-forward stream of the API server.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};
use tokio::net::{TcpListener, TcpStream};

use crate::cluster::Target;
use crate::error::ClusterError;
use crate::{address, get, readiness};

/// The pod and container port local connections go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub pod: String,
    pub port: u16,
}

/// A ready pod behind app `name`'s Service and the port its first Service port targets.
pub async fn choose(target: &Target, name: &str) -> Result<Forward, ClusterError> {
    let app = get::fetch_app(target, name).await?;
    let not_ready = |wanted| ClusterError::NoPods {
        namespace: target.namespace.clone(),
        name: name.into(),
        wanted,
        condition: readiness::summary(&app),
    };
    let service = address::service(target, name)
        .await?
        .ok_or_else(|| ClusterError::NoService {
            namespace: target.namespace.clone(),
            name: name.into(),
            condition: readiness::summary(&app),
        })?;
    let spec = service.spec.unwrap_or_default();
    let selector: Vec<String> = spec
        .selector
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let service_port = spec.ports.unwrap_or_default().into_iter().next();
    let target_port = service_port
        .as_ref()
        .and_then(|p| p.target_port.clone())
        .unwrap_or(IntOrString::Int(service_port.map(|p| p.port).unwrap_or(80)));
    let api: Api<Pod> = Api::namespaced(target.client.clone(), &target.namespace);
    let mut pods = api
        .list(&ListParams::default().labels(&selector.join(",")))
        .await
        .map_err(|e| target.refused(e, "list", "pods", None))?
        .items;
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let pod = pods
        .iter()
        .find(|p| is_ready(p))
        .ok_or_else(|| not_ready("ready pod"))?;
    let port = container_port(pod, &target_port)
        .ok_or_else(|| not_ready("pod serving the Service's port"))?;
    Ok(Forward {
        pod: pod.metadata.name.clone().unwrap_or_default(),
        port,
    })
}

/// Running, not being deleted, and its `Ready` condition true.
fn is_ready(pod: &Pod) -> bool {
    let status = pod.status.clone().unwrap_or_default();
    pod.metadata.deletion_timestamp.is_none()
        && status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// A numeric target port, or the container port of that name.
fn container_port(pod: &Pod, target: &IntOrString) -> Option<u16> {
    match target {
        IntOrString::Int(port) => u16::try_from(*port).ok(),
        IntOrString::String(name) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

/// Accepts connections on `listener` for ever, forwarding each to `forward`; a
/// connection that cannot be forwarded is closed and `report`ed.
pub async fn serve(
    target: Target,
    forward: Forward,
    listener: TcpListener,
    report: impl Fn(ClusterError) + Send + Sync + 'static,
) -> Result<(), ClusterError> {
    let report = Arc::new(report);
    let forward = Arc::new(forward);
    loop {
        let (connection, _) = listener
            .accept()
            .await
            .map_err(|source| ClusterError::Listen {
                addr: listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                source,
            })?;
        let (target, forward, report) = (target.clone(), forward.clone(), report.clone());
        tokio::spawn(async move {
            if let Err(e) = forward_one(&target, &forward, connection).await {
                report(e);
            }
        });
    }
}

async fn forward_one(
    target: &Target,
    forward: &Forward,
    mut connection: TcpStream,
) -> Result<(), ClusterError> {
    let api: Api<Pod> = Api::namespaced(target.client.clone(), &target.namespace);
    let refused = |e| target.refused(e, "create", "pods/portforward", Some(&forward.pod));
    let mut forwarder = api
        .portforward(&forward.pod, &[forward.port])
        .await
        .map_err(refused)?;
    let mut upstream = forwarder
        .take_stream(forward.port)
        .expect("a stream for each requested port");
    // Either side closing ends the connection; what is in flight is not an error.
    let _ = tokio::io::copy_bidirectional(&mut connection, &mut upstream).await;
    drop(upstream);
    forwarder
        .join()
        .await
        .map_err(|e| ClusterError::PortForward {
            pod: forward.pod.clone(),
            port: forward.port,
            detail: e.to_string(),
        })
}
