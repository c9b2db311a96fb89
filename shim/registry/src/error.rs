//! What can go wrong talking to a registry, each error saying what to do about it.

use std::path::PathBuf;

use oci_client::Reference;
use oci_client::errors::{OciDistributionError, OciErrorCode};

use crate::access::Registry;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "cannot reach the registry {registry}: {detail}. Is it running and is the host right? For a plain-HTTP registry that is not on this machine pass --insecure"
    )]
    Unreachable { registry: String, detail: String },
    #[error(
        "the registry {registry} refused access to {repository}: {detail}. Log in with `docker login {registry}` (in a cluster: an image pull secret of type kubernetes.io/dockerconfigjson); credentials are read from {config}"
    )]
    AuthDenied {
        registry: String,
        repository: String,
        detail: String,
        config: String,
    },
    #[error(
        "{reference} is not in the registry {registry}: {detail}. Check the repository and tag (push it with `spin registry push` or `spin kube push`)"
    )]
    NotFound {
        registry: String,
        reference: String,
        detail: String,
    },
    #[error("the registry {registry} failed to {action}: {detail}")]
    Registry {
        registry: String,
        action: String,
        detail: String,
    },
    #[error("{reference} is not a Spin app: {problem}")]
    NotSpin { reference: String, problem: String },
    #[error("Docker config {}: {problem}", path.display())]
    DockerConfig { path: PathBuf, problem: String },
    #[error("blob cache {}: {source}", path.display())]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Turns a client error during `action` into one that says what to do.
pub fn classify(
    error: OciDistributionError,
    reference: &Reference,
    registry: &Registry,
    action: &str,
) -> RegistryError {
    let host = reference.registry().to_string();
    let denied = |detail: String| RegistryError::AuthDenied {
        registry: host.clone(),
        repository: reference.repository().to_string(),
        detail,
        config: registry.auth_source.clone(),
    };
    match error {
        OciDistributionError::RequestError(e) if e.is_connect() || e.is_timeout() => {
            RegistryError::Unreachable {
                registry: host,
                detail: error_chain(&e),
            }
        }
        OciDistributionError::UnauthorizedError { url } => denied(format!("401 at {url}")),
        OciDistributionError::AuthenticationFailure(detail) => denied(detail),
        OciDistributionError::ServerError {
            code: code @ (401 | 403),
            message,
            ..
        } => denied(format!("HTTP {code}: {}", message.trim())),
        OciDistributionError::ImageManifestNotFoundError(detail) => RegistryError::NotFound {
            registry: host,
            reference: reference.whole(),
            detail,
        },
        OciDistributionError::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown
                )
            }) =>
        {
            RegistryError::NotFound {
                registry: host,
                reference: reference.whole(),
                detail: envelope
                    .errors
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        }
        other => RegistryError::Registry {
            registry: host,
            action: action.to_string(),
            detail: other.to_string(),
        },
    }
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
