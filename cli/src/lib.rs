//! `spin kube` / `spin k8s`: get a Spin app onto Kubernetes and look after it there.
//!
//! - [`artifact`] + [`registry`]: `push`, Spin's OCI artifact layout over `oci-client`
//!   (credentials and pulls are shared with `spin-run` in the `spin-registry` crate);
//! - [`scaffold`]: the SpinApp (and Secret, HPA or KEDA ScaledObject) for an image;
//! - [`cluster`]: the client, namespace and API refusals every cluster command shares;
//! - [`deploy`]: server-side apply and wait for `Ready`, then the app's [`address`] and
//!   [`routes`];
//! - [`list`], [`get`], [`logs`], [`connect`], [`delete`]: the app's life on the cluster.
//!
//! The binary is `spin-kube`; installed as a Spin plugin it runs as `spin kube` or
//! `spin k8s`.

pub mod address;
pub mod artifact;
pub mod cluster;
pub mod connect;
pub mod delete;
pub mod deploy;
pub mod error;
pub mod get;
pub mod list;
pub mod logs;
pub mod output;
pub mod readiness;
pub mod reference;
pub mod registry;
pub mod routes;
pub mod scaffold;
pub mod table;
