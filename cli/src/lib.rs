//! `spin kube`: get a Spin app onto Kubernetes.
//!
//! - [`artifact`] + [`registry`]: `push`, Spin's OCI artifact layout over `oci-client`,
//!   credentials from the Docker config ([`docker_auth`]);
//! - [`scaffold`]: the SpinApp (and Secret, HPA or KEDA ScaledObject) for an image;
//! - [`deploy`]: server-side apply and wait for `Ready`.
//!
//! The binary is `spin-kube`; installed as a Spin plugin it runs as `spin kube`.

pub mod artifact;
pub mod deploy;
pub mod docker_auth;
pub mod error;
pub mod reference;
pub mod registry;
pub mod scaffold;
