//! Uploading an [`Artifact`] to an OCI registry with `oci-client` (blobs the registry
//! already holds are not uploaded again), and reading a pushed app's locked app back.

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use spin_app::LockedApp;
use spin_app::oci::LOCKED_APP_MEDIA_TYPE;

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
    let client = client(registry);
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

/// Largest locked app read from a registry (it carries small files inline).
pub const MAX_LOCKED_APP_BYTES: usize = 16 << 20;

/// The locked app of the Spin artifact at `reference`, digest-verified.
pub async fn pull_locked_app(
    reference: &Reference,
    registry: &Registry,
) -> Result<LockedApp, PushError> {
    let client = client(registry);
    let fail = |action: &str| {
        let action = action.to_string();
        move |e: OciDistributionError| classify(e, reference, registry, &action)
    };
    let (manifest, _) = client
        .pull_image_manifest(reference, &registry.auth)
        .await
        .map_err(fail("send the manifest"))?;
    let not_spin = |problem: String| PushError::Registry {
        registry: reference.registry().to_string(),
        action: format!("serve a Spin app at {}", reference.whole()),
        detail: problem,
    };
    let layer = manifest
        .layers
        .iter()
        .find(|l| l.media_type == LOCKED_APP_MEDIA_TYPE)
        .ok_or_else(|| not_spin(format!("the image has no {LOCKED_APP_MEDIA_TYPE} layer")))?;
    if usize::try_from(layer.size).map_or(true, |size| size > MAX_LOCKED_APP_BYTES) {
        return Err(not_spin(format!(
            "its locked app is {} bytes, more than the {MAX_LOCKED_APP_BYTES} read",
            layer.size
        )));
    }
    let mut bytes = CappedBuffer::default();
    client
        .pull_blob(reference, layer, &mut bytes)
        .await
        .map_err(fail("send the locked app"))?;
    LockedApp::from_json(&bytes.0, std::path::Path::new(&reference.whole()))
        .map_err(|e| not_spin(e.to_string()))
}

/// A buffer that refuses writes past [`MAX_LOCKED_APP_BYTES`].
#[derive(Default)]
struct CappedBuffer(Vec<u8>);

impl tokio::io::AsyncWrite for CappedBuffer {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.0.len() + data.len() > MAX_LOCKED_APP_BYTES {
            return std::task::Poll::Ready(Err(std::io::Error::other(
                "the registry sent more than the locked app's size",
            )));
        }
        self.0.extend_from_slice(data);
        std::task::Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

fn client(registry: &Registry) -> Client {
    Client::new(ClientConfig {
        protocol: if registry.insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        ..Default::default()
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
