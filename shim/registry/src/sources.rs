//! Everything an app's manifest names outside its directory, fetched before it is
//! locked: remote URLs ([`crate::remote_source`]) and registry packages
//! ([`crate::package_source`]), into the blob cache; what was fetched goes to
//! [`spin_app::load_app_fetched`]. `spin-run` and `spin kube push` call this; the shim
//! never does (a pod only reads its image).

use std::path::Path;

use spin_app::AppError;
use spin_app::load::FetchedSources;

use crate::package_source::{PackageAccess, PackageError, fetch_package};
use crate::remote_source::{RemoteSourceError, fetch_urls};

/// Why an app's sources could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Url(#[from] RemoteSourceError),
    #[error(transparent)]
    Package(Box<PackageError>),
}

/// Fetches (or finds in `blob_dir`) every remote URL and registry package the app at
/// `app` names; `packages` says how to reach package registries.
pub async fn fetch_sources(
    app: &Path,
    blob_dir: &Path,
    packages: &PackageAccess,
) -> Result<FetchedSources, SourceError> {
    let wanted = spin_app::sources_to_fetch(app)?;
    let mut fetched = FetchedSources::default();
    for package in &wanted.packages {
        let (digest, path) = fetch_package(package, packages, blob_dir)
            .await
            .map_err(|e| SourceError::Package(Box::new(e)))?;
        fetched.files.insert(digest.clone(), path);
        fetched.packages.insert(package.request.clone(), digest);
    }
    fetch_urls(wanted.urls, blob_dir, &mut fetched).await?;
    Ok(fetched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spin_app::Sha256Digest;
    use std::path::PathBuf;

    /// Serves `body` on a free loopback port; the address.
    fn serve(body: Vec<u8>) -> std::net::SocketAddr {
        spin_kube_e2e::upstream::Upstream::serving([127, 0, 0, 1].into(), body).addr
    }

    fn app(dir: &Path, url: &str, digest: &Sha256Digest) -> PathBuf {
        let manifest = format!(
            r#"spin_manifest_version = 2
[application]
name = "remote"
[[trigger.http]]
route = "/..."
component = "files"
[component.files]
source = {{ url = "{url}", digest = "{digest}" }}
"#
        );
        std::fs::write(dir.join("spin.toml"), manifest).unwrap();
        dir.join("spin.toml")
    }

    #[tokio::test]
    async fn a_remote_source_is_fetched_verified_and_then_read_from_the_cache() {
        let wasm = b"\0asm\x01\0\0\0".to_vec();
        let digest = Sha256Digest::of(&wasm);
        let addr = serve(wasm.clone());
        let dir = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let manifest = app(dir.path(), &format!("http://{addr}/fs.wasm"), &digest);

        let fetched = fetch_sources(&manifest, cache.path(), &PackageAccess::default())
            .await
            .unwrap();
        assert_eq!(std::fs::read(&fetched.files[&digest]).unwrap(), wasm);
        let locked = spin_app::load_app_fetched(&manifest, &fetched).unwrap();
        assert_eq!(
            locked.components[0].source.content.digest,
            Some(digest.clone())
        );

        // Cached: the server is not asked again (a URL nobody answers still works).
        let manifest = app(dir.path(), "http://127.0.0.1:9/gone.wasm", &digest);
        let again = fetch_sources(&manifest, cache.path(), &PackageAccess::default())
            .await
            .unwrap();
        assert_eq!(again.files[&digest], fetched.files[&digest]);
    }

    #[tokio::test]
    async fn bytes_of_another_digest_are_refused_and_not_stored() {
        let addr = serve(b"not what was promised".to_vec());
        let promised = Sha256Digest::of(b"the real component");
        let dir = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let manifest = app(dir.path(), &format!("http://{addr}/x.wasm"), &promised);
        let err = fetch_sources(&manifest, cache.path(), &PackageAccess::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("component.files.source") && err.contains("not the sha256:"),
            "{err}"
        );
        assert!(!cache.path().join("sha256").join(promised.hex()).exists());
    }

    #[tokio::test]
    async fn other_schemes_are_not_fetched() {
        let digest = Sha256Digest::of(b"x");
        let dir = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let manifest = app(dir.path(), "file:///etc/passwd", &digest);
        let err = fetch_sources(&manifest, cache.path(), &PackageAccess::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("only http and https"), "{err}");
    }

    #[test]
    fn an_unfetched_remote_source_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = app(
            dir.path(),
            "https://example.com/x.wasm",
            &Sha256Digest::of(b"x"),
        );
        let err = spin_app::load_app(&manifest).unwrap_err().to_string();
        assert!(err.contains("was not fetched"), "{err}");
    }
}
