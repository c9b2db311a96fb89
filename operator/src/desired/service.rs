use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use spin_crds::SpinApp;

use super::ports::{HTTP_PORT, HTTP_PORT_NAME};
use crate::labels;

/// A ClusterIP Service on port 80 in front of the app's pods.
pub fn build(app: &SpinApp, owner: &OwnerReference) -> Service {
    let name = app.metadata.name.clone().unwrap_or_default();
    Service {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: app.metadata.namespace.clone(),
            labels: Some(labels::owned(&name)),
            annotations: (!app.spec.service_annotations.is_empty())
                .then(|| app.spec.service_annotations.clone()),
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(labels::selector(&name)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: HTTP_PORT,
                protocol: Some("TCP".into()),
                target_port: Some(IntOrString::String(HTTP_PORT_NAME.into())),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    }
}
