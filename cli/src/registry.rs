//! Uploading an [`Artifact`] to an OCI registry with `oci-client`. Blobs the registry
//! already holds are not uploaded again.

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use crate::artifact::Artifact;
use crate::error::PushError;

/// How to reach the registry.
#[derive(Debug, Clone)]
pub struct Registry {
    /// Plain HTTP instead of HTTPS.
    pub insecure: bool,
    pub auth: RegistryAuth,
    /// Where the credentials came from, for error messages.
    pub auth_source: String,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `REGISTRY/REPOSITORY:TAG@sha256:...`.
    pub reference: String,
    /// The manifest digest.
    pub digest: String,
    /// Blobs uploaded by this push.
    pub uploaded: usize,
    /// Blobs the registry already had.
    pub already_present: usize,
}

/// Uploads the blobs the registry lacks, then the manifest; the tag then names it.
pub async fn push(
    artifact: &Artifact,
    reference: &Reference,
    registry: &Registry,
) -> Result<Pushed, PushError> {
    let client = Client::new(ClientConfig {
        protocol: if registry.insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        ..Default::default()
    });
    let fail = |action: &str| {
        let action = action.to_string();
        move |e: OciDistributionError| classify(e, reference, registry, &action)
    };
    client
        .auth(reference, &registry.auth, RegistryOperation::Push)
        .await
        .map_err(fail("authenticate"))?;

    let mut blobs: Vec<(&[u8], OciDescriptor)> = artifact
        .layers
        .iter()
        .zip(&artifact.manifest.layers)
        .map(|(layer, descriptor)| (layer.data.as_ref(), descriptor.clone()))
        .collect();
    blobs.push((&artifact.config.data, artifact.manifest.config.clone()));

    let (mut uploaded, mut already_present) = (0, 0);
    for (data, descriptor) in blobs {
        if has_blob(&client, reference, &descriptor)
            .await
            .map_err(fail("answer whether it has a blob"))?
        {
            already_present += 1;
            continue;
        }
        client
            .push_blob(reference, data, &descriptor.digest)
            .await
            .map_err(fail(&format!("store blob {}", descriptor.digest)))?;
        uploaded += 1;
    }
    let manifest_url = client
        .push_manifest(reference, &artifact.manifest.clone().into())
        .await
        .map_err(fail("store the manifest"))?;
    let digest = manifest_url
        .rsplit('/')
        .next()
        .filter(|d| d.starts_with("sha256:"))
        .map(str::to_string)
        .unwrap_or_else(|| manifest_digest(artifact));
    let tagless = reference.clone_with_digest(digest.clone());
    let shown = match reference.tag() {
        Some(tag) => format!(
            "{}/{}:{tag}@{digest}",
            tagless.registry(),
            tagless.repository()
        ),
        None => tagless.whole(),
    };
    Ok(Pushed {
        reference: shown,
        digest,
        uploaded,
        already_present,
    })
}

/// The digest of the manifest as pushed (canonical JSON bytes).
fn manifest_digest(artifact: &Artifact) -> String {
    use sha2::Digest;
    let bytes = serde_json::to_vec(&artifact.manifest).expect("manifests serialize");
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Whether the registry holds the blob. `oci-client` has no HEAD for blobs, so this
/// asks for its first byte: 404 means absent.
async fn has_blob(
    client: &Client,
    reference: &Reference,
    descriptor: &OciDescriptor,
) -> Result<bool, OciDistributionError> {
    match client
        .pull_blob_stream_partial(reference, descriptor, 0, Some(1))
        .await
    {
        Ok(_) => Ok(true),
        Err(OciDistributionError::ServerError { code: 404, .. }) => Ok(false),
        Err(OciDistributionError::RegistryError { envelope, .. })
            if envelope
                .errors
                .iter()
                .any(|e| format!("{:?}", e.code).contains("BlobUnknown")) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Turns a client error into one that says what to do.
fn classify(
    error: OciDistributionError,
    reference: &Reference,
    registry: &Registry,
    action: &str,
) -> PushError {
    let host = reference.registry().to_string();
    let denied = |detail: String| PushError::AuthDenied {
        registry: host.clone(),
        repository: reference.repository().to_string(),
        detail,
        config: registry.auth_source.clone(),
    };
    match error {
        OciDistributionError::RequestError(e) if e.is_connect() || e.is_timeout() => {
            PushError::Unreachable {
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
        other => PushError::Registry {
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
