//! Uploading an [`Artifact`] to an OCI registry with `oci-client` (blobs the registry
//! already holds are not uploaded again).

use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::{Client, Reference, RegistryOperation};
use spin_registry::Registry;
use spin_registry::error::classify;

use crate::artifact::Artifact;
use crate::error::PushError;

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
    let client = registry.client(reference.registry());
    let fail = |action: &str| {
        let action = action.to_string();
        move |e: OciDistributionError| PushError::from(classify(e, reference, registry, &action))
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
