//! Registry package sources (`source = { registry, package, version }`, a dependency's
//! `"ns:pkg" = "^1"`): found, chosen and fetched as Spin does through wasm-pkg, for OCI
//! registries.
//!
//! 1. The registry: the manifest's, else the wasm-pkg configuration's
//!    ([`crate::package_config`]).
//! 2. Where it keeps packages: `/.well-known/wasm-pkg/registry.json` on the registry
//!    may name another OCI registry and a namespace prefix; without that document the
//!    registry itself holds them. Registries that only speak warg are refused.
//! 3. The version: the highest tag of `<prefix><namespace>/<name>` that is a semantic
//!    version matching the requirement.
//! 4. The Wasm: the first layer of that tag's manifest, which must be a Wasm layer of at
//!    most [`MAX_REMOTE_SOURCE_BYTES`]; streamed into the blob cache, checked against
//!    its digest, and not fetched again once there.
//!
//! Everything a registry sends is untrusted: the metadata document is read up to
//! [`MAX_METADATA_BYTES`] and may only name a registry domain, the layer is capped at
//! the size its manifest gives and verified by digest, and one package takes at most
//! [`FETCH_TIMEOUT`] in all. The tag list and the manifest are
//! read by the OCI client (as for app images; manifests are then refused past 4 MiB).

use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_client::Reference;
use serde::Deserialize;
use spin_app::Sha256Digest;
use spin_app::load::PackageSource;
use spin_app::oci::ImageManifest;
use spin_app::package::check_registry;

use crate::access::{Registry, is_loopback};
use crate::credentials;
use crate::error::RegistryError;
use crate::package_config::PackageConfig;
use crate::pull::{BlobCache, Remote};
use crate::remote_source::{FETCH_TIMEOUT, MAX_REMOTE_SOURCE_BYTES, is_cached};

/// Largest registry metadata document read.
pub const MAX_METADATA_BYTES: usize = 64 << 10;

/// Longest the metadata document may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

/// The layer media types a Wasm package's manifest may give its Wasm (wasm-pkg's).
const WASM_PACKAGE_LAYER_TYPES: &[&str] =
    &["application/wasm", spin_app::oci::WASM_LAYER_MEDIA_TYPE];

/// How to reach package registries.
#[derive(Debug, Clone, Default)]
pub struct PackageAccess {
    /// Plain HTTP for every registry (loopback registries always get it).
    pub insecure: bool,
    /// Docker configs holding credentials; the first with an entry for a registry wins.
    pub docker_configs: Vec<PathBuf>,
    /// Which registry serves a package the manifest names no registry for.
    pub config: PackageConfig,
}

/// Why a package could not be had; every variant names the manifest field.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(
        "{field}: no registry for the package {package}: give `registry = \"...\"` in the \
         manifest, or a `default_registry` or `[namespace_registries]` entry in {config}"
    )]
    NoRegistry {
        field: String,
        package: String,
        config: String,
    },
    #[error("{field}: the registry {registry} {problem}")]
    Metadata {
        field: String,
        registry: String,
        problem: String,
    },
    #[error(
        "{field}: no version of {package} in {repository} matches {requirement} (versions \
         there: {available})"
    )]
    NoVersion {
        field: String,
        package: String,
        repository: String,
        requirement: String,
        available: String,
    },
    #[error("{field}: {reference} is not a Wasm package: {problem}")]
    NotWasm {
        field: String,
        reference: String,
        problem: String,
    },
    #[error("{field}: the package {package} was not fetched within {limit:?}")]
    TimedOut {
        field: String,
        package: String,
        limit: Duration,
    },
    #[error("{field}: {source}")]
    Registry {
        field: String,
        source: RegistryError,
    },
}

/// Fetches (or finds in the cache under `blob_dir`) the Wasm of one package, within
/// [`FETCH_TIMEOUT`] in all; returns its digest and file.
pub async fn fetch_package(
    wanted: &PackageSource,
    access: &PackageAccess,
    blob_dir: &Path,
) -> Result<(Sha256Digest, PathBuf), PackageError> {
    tokio::time::timeout(FETCH_TIMEOUT, fetch_within(wanted, access, blob_dir))
        .await
        .map_err(|_| PackageError::TimedOut {
            field: wanted.field.clone(),
            package: wanted.request.to_string(),
            limit: FETCH_TIMEOUT,
        })?
}

async fn fetch_within(
    wanted: &PackageSource,
    access: &PackageAccess,
    blob_dir: &Path,
) -> Result<(Sha256Digest, PathBuf), PackageError> {
    let field = wanted.field.clone();
    let request = &wanted.request;
    let registry = access
        .config
        .registry_for(request)
        .ok_or_else(|| PackageError::NoRegistry {
            field: field.clone(),
            package: request.package.clone(),
            config: access.config.source.as_ref().map_or_else(
                || "~/.config/wasm-pkg/config.toml".to_string(),
                |p| p.display().to_string(),
            ),
        })?;
    let location = oci_location(&registry, access.insecure)
        .await
        .map_err(|problem| PackageError::Metadata {
            field: field.clone(),
            registry: registry.clone(),
            problem,
        })?;
    let repository = format!(
        "{}{}/{}",
        location.namespace_prefix,
        request.namespace(),
        request.name()
    );
    let (auth, auth_source) =
        credentials::registry_auth_from(&access.docker_configs, &location.registry).map_err(
            |source| PackageError::Registry {
                field: field.clone(),
                source,
            },
        )?;
    let oci = Registry {
        insecure: access.insecure,
        auth,
        auth_source,
    };
    let registry_err = |source| PackageError::Registry {
        field: field.clone(),
        source,
    };

    let listing = Reference::with_tag(
        location.registry.clone(),
        repository.clone(),
        "latest".into(),
    );
    let tags = Remote::new(&listing, &oci)
        .tags()
        .await
        .map_err(registry_err)?;
    let requirement = request.requirement().map_err(|e| PackageError::NotWasm {
        field: field.clone(),
        reference: listing.whole(),
        problem: e.to_string(),
    })?;
    let versions: Vec<semver::Version> = tags
        .iter()
        .filter_map(|tag| semver::Version::parse(tag).ok())
        .collect();
    let Some(version) = versions.iter().filter(|v| requirement.matches(v)).max() else {
        let mut shown: Vec<_> = versions.iter().map(ToString::to_string).collect();
        shown.sort();
        return Err(PackageError::NoVersion {
            field,
            package: request.package.clone(),
            repository: listing.whole(),
            requirement: request.version.clone(),
            available: if shown.is_empty() {
                "none".into()
            } else {
                shown.join(", ")
            },
        });
    };

    let reference = Reference::with_tag(location.registry, repository, version.to_string());
    let remote = Remote::new(&reference, &oci);
    let not_wasm = |problem: String| PackageError::NotWasm {
        field: field.clone(),
        reference: reference.whole(),
        problem,
    };
    let bytes = remote.manifest_raw().await.map_err(registry_err)?;
    let manifest = ImageManifest::parse(&bytes).map_err(not_wasm)?;
    let layer = manifest
        .layers
        .first()
        .ok_or_else(|| not_wasm("its manifest has no layers".into()))?;
    if !WASM_PACKAGE_LAYER_TYPES.contains(&layer.media_type.as_str()) {
        return Err(not_wasm(format!(
            "its first layer is {}, not one of {WASM_PACKAGE_LAYER_TYPES:?}",
            layer.media_type
        )));
    }
    if layer.size > MAX_REMOTE_SOURCE_BYTES {
        return Err(not_wasm(format!(
            "its Wasm is {} bytes, more than the limit of {MAX_REMOTE_SOURCE_BYTES}",
            layer.size
        )));
    }
    let cache = BlobCache::new(blob_dir).map_err(registry_err)?;
    let path = cache.path(&layer.digest);
    if !is_cached(&path, &layer.digest) {
        cache
            .fetch(&remote, &layer.digest, layer.size)
            .await
            .map_err(registry_err)?;
        tracing::info!(package = %request.package, %version, reference = %reference.whole(), digest = %layer.digest, "fetched a registry package");
    }
    Ok((layer.digest.clone(), path))
}

/// The OCI registry and repository prefix a package registry keeps packages under.
#[derive(Debug, PartialEq, Eq)]
struct OciLocation {
    registry: String,
    namespace_prefix: String,
}

/// The registry's metadata document, in its current and its older form.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistryMetadata {
    preferred_protocol: Option<String>,
    oci: Option<OciMetadata>,
    warg: Option<serde_json::Value>,
    oci_registry: Option<String>,
    oci_namespace_prefix: Option<String>,
    warg_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciMetadata {
    registry: Option<String>,
    namespace_prefix: Option<String>,
}

/// Reads `registry`'s metadata document; a registry without one (HTTP 404, or nothing
/// answering on HTTPS/HTTP at all) keeps packages itself, as wasm-pkg assumes.
async fn oci_location(registry: &str, insecure: bool) -> Result<OciLocation, String> {
    let fetched = tokio::time::timeout(METADATA_TIMEOUT, metadata(registry, insecure))
        .await
        .map_err(|_| format!("sent no metadata within {METADATA_TIMEOUT:?}"))?;
    let document = match fetched {
        Ok(Some(bytes)) => bytes,
        Ok(None) => Vec::new(),
        Err(problem) => {
            tracing::debug!(
                registry,
                problem,
                "no registry metadata; using the registry itself"
            );
            Vec::new()
        }
    };
    location_from(registry, &document)
}

/// The OCI location a metadata document (empty: none) gives.
fn location_from(registry: &str, document: &[u8]) -> Result<OciLocation, String> {
    let meta: RegistryMetadata = if document.is_empty() {
        RegistryMetadata::default()
    } else {
        serde_json::from_slice(document)
            .map_err(|e| format!("sent a metadata document that is not valid: {e}"))?
    };
    let oci = meta.oci.unwrap_or_default();
    let oci_registry = oci.registry.or(meta.oci_registry);
    let prefix = oci.namespace_prefix.or(meta.oci_namespace_prefix);
    let speaks_warg = meta.warg.is_some()
        || meta.warg_url.is_some()
        || meta.preferred_protocol.as_deref() == Some("warg");
    if speaks_warg && oci_registry.is_none() && prefix.is_none() {
        return Err(
            "serves packages over the warg protocol only; this runtime fetches packages \
             from OCI registries"
                .into(),
        );
    }
    let registry = oci_registry.unwrap_or_else(|| registry.to_string());
    check_registry(&registry)
        .map_err(|e| format!("names an OCI registry that is not valid: {e}"))?;
    let namespace_prefix = prefix.unwrap_or_default();
    let prefix_ok = namespace_prefix.split('/').all(|part| {
        part.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            && part != ".."
    });
    if !prefix_ok {
        return Err(format!(
            "names a namespace prefix {namespace_prefix:?} that is not a repository path"
        ));
    }
    Ok(OciLocation {
        registry,
        namespace_prefix,
    })
}

/// The metadata document's bytes; `None` when the registry has none (404).
async fn metadata(registry: &str, insecure: bool) -> Result<Option<Vec<u8>>, String> {
    let scheme = if insecure || is_loopback(registry) {
        "http"
    } else {
        "https"
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|e| e.to_string())?;
    let mut response = client
        .get(format!(
            "{scheme}://{registry}/.well-known/wasm-pkg/registry.json"
        ))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !response.status().is_success() {
        return Err(format!("metadata answered HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(format!("metadata larger than {MAX_METADATA_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_may_move_packages_to_another_oci_registry() {
        let at = |doc: &str| location_from("example.com", doc.as_bytes());
        assert_eq!(
            at("").unwrap(),
            OciLocation {
                registry: "example.com".into(),
                namespace_prefix: String::new()
            }
        );
        assert_eq!(
            at(r#"{"preferredProtocol":"oci","oci":{"registry":"ghcr.io","namespacePrefix":"org/wasm/"}}"#)
                .unwrap(),
            OciLocation {
                registry: "ghcr.io".into(),
                namespace_prefix: "org/wasm/".into()
            }
        );
        assert_eq!(
            at(r#"{"ociRegistry":"ghcr.io","ociNamespacePrefix":"old/"}"#)
                .unwrap()
                .namespace_prefix,
            "old/"
        );
        let warg = at(r#"{"warg":{"url":"https://warg.example.com"}}"#).unwrap_err();
        assert!(warg.contains("warg"), "{warg}");
        for hostile in [
            r#"{"oci":{"registry":"http://169.254.169.254/latest"}}"#,
            r#"{"oci":{"namespacePrefix":"../../v2/"}}"#,
            r#"{"oci":{"namespacePrefix":"a?b="}}"#,
            "not json",
        ] {
            assert!(at(hostile).is_err(), "{hostile}");
        }
    }
}
