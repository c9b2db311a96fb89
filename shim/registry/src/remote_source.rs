//! Remote component sources: `source = { url = "https://…", digest = "sha256:…" }` in
//! `spin.toml` (Spin's static file server is commonly used this way), and registry
//! packages ([`crate::package_source`]), fetched once into the content-addressed blob
//! cache that registry pulls use, and read from there afterwards, so an app whose URL
//! sources are cached starts offline.
//!
//! The URL is the app author's, the server someone else's: at most
//! [`MAX_REMOTE_SOURCE_BYTES`] are read, within [`FETCH_TIMEOUT`], only `http` and
//! `https` are followed (redirects included, at most 5), and the bytes are stored under
//! their digest only when they hash to the digest the manifest gives.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use spin_app::load::FetchedSources;
use spin_app::{AppError, Sha256Digest};

use crate::package_source::{PackageAccess, PackageError, fetch_package};
use tokio::io::AsyncWriteExt;

/// Largest remote source read (the runtime's bound on a component).
pub const MAX_REMOTE_SOURCE_BYTES: u64 = 512 << 20;

/// Longest one fetch may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a remote source could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RemoteSourceError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Package(Box<PackageError>),
    #[error("{field} ({url}): {problem}")]
    Fetch {
        field: String,
        url: String,
        problem: String,
    },
    #[error("blob cache {}: {source}", path.display())]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Fetches (or finds in `blob_dir`) every remote URL and registry package the app at
/// `app` names; `packages` says how to reach package registries.
pub async fn fetch_remote_sources(
    app: &Path,
    blob_dir: &Path,
    packages: &PackageAccess,
) -> Result<FetchedSources, RemoteSourceError> {
    let wanted = spin_app::sources_to_fetch(app)?;
    let mut fetched = FetchedSources::default();
    for package in &wanted.packages {
        let (digest, path) = fetch_package(package, packages, blob_dir)
            .await
            .map_err(|e| RemoteSourceError::Package(Box::new(e)))?;
        fetched.files.insert(digest.clone(), path);
        fetched.packages.insert(package.request.clone(), digest);
    }
    let sources = wanted.urls;
    if sources.is_empty() {
        return Ok(fetched);
    }
    let dir = blob_dir.join("sha256");
    std::fs::create_dir_all(&dir).map_err(|source| RemoteSourceError::Cache {
        path: dir.clone(),
        source,
    })?;
    for source in sources {
        let path = dir.join(source.digest.hex());
        if !is_cached(&path, &source.digest) {
            let failed = |problem: String| RemoteSourceError::Fetch {
                field: source.field.clone(),
                url: source.url.clone(),
                problem,
            };
            let download = download(&source.url, &source.digest, &dir, &path);
            tokio::time::timeout(FETCH_TIMEOUT, download)
                .await
                .map_err(|_| failed(format!("not fetched within {FETCH_TIMEOUT:?}")))?
                .map_err(failed)?;
            tracing::info!(url = %source.url, digest = %source.digest, "fetched a remote component source");
        }
        fetched.files.insert(source.digest, path);
    }
    Ok(fetched)
}

/// Whether `path` holds bytes that hash to `digest` (a partial or corrupt file does not).
pub(crate) fn is_cached(path: &Path, digest: &Sha256Digest) -> bool {
    std::fs::File::open(path)
        .and_then(Sha256Digest::of_reader)
        .is_ok_and(|(actual, _)| actual == *digest)
}

/// Streams `url` into a temporary file in `dir`, hashing as it goes, and renames it to
/// `path` if it matches `digest`.
async fn download(url: &str, digest: &Sha256Digest, dir: &Path, path: &Path) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("only http and https URLs are fetched".into());
    }
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let web = matches!(attempt.url().scheme(), "http" | "https");
            if attempt.previous().len() >= 5 || !web {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .build()
        .map_err(|e| e.to_string())?;
    let mut response = client
        .get(parsed)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("{e}"))?;
    if response
        .content_length()
        .is_some_and(|len| len > MAX_REMOTE_SOURCE_BYTES)
    {
        return Err(too_large());
    }
    let cache_err = |e: std::io::Error| format!("blob cache {}: {e}", dir.display());
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(cache_err)?;
    let mut file = tokio::fs::File::from_std(tmp.reopen().map_err(cache_err)?);
    let (mut hasher, mut read) = (Sha256::new(), 0u64);
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{e}"))? {
        read += chunk.len() as u64;
        if read > MAX_REMOTE_SOURCE_BYTES {
            return Err(too_large());
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(cache_err)?;
    }
    file.flush().await.map_err(cache_err)?;
    let actual = Sha256Digest::from_raw(hasher.finalize().into());
    if actual != *digest {
        return Err(format!(
            "its content has digest {actual}, not the {digest} the manifest gives"
        ));
    }
    tmp.persist(path).map_err(|e| cache_err(e.error))?;
    Ok(())
}

fn too_large() -> String {
    format!("larger than {} MiB", MAX_REMOTE_SOURCE_BYTES >> 20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Serves `body` to every connection (HTTP/1.1, one response each); the address.
    fn serve(body: Vec<u8>) -> std::net::SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head);
                let header = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(header.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        addr
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

        let fetched = fetch_remote_sources(&manifest, cache.path(), &PackageAccess::default())
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
        let again = fetch_remote_sources(&manifest, cache.path(), &PackageAccess::default())
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
        let err = fetch_remote_sources(&manifest, cache.path(), &PackageAccess::default())
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
        let err = fetch_remote_sources(&manifest, cache.path(), &PackageAccess::default())
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
