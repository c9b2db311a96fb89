//! Remote component sources: `source = { url = "https://…", digest = "sha256:…" }` in
//! `spin.toml` (Spin's static file server is commonly used this way), fetched once into
//! the content-addressed blob cache that registry pulls use, and read from there
//! afterwards, so an app whose sources are cached starts offline.
//!
//! The URL is the app author's, the server someone else's: at most
//! [`MAX_REMOTE_SOURCE_BYTES`] are read, within [`FETCH_TIMEOUT`], only `http` and
//! `https` are followed (redirects included, at most 5), and the bytes are stored under
//! their digest only when they hash to the digest the manifest gives.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use spin_app::Sha256Digest;
use spin_app::load::{FetchedSources, RemoteSource};
use tokio::io::AsyncWriteExt;

/// Largest remote source read (the runtime's bound on a component).
pub const MAX_REMOTE_SOURCE_BYTES: u64 = 512 << 20;

/// Longest one fetch may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a remote source could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RemoteSourceError {
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

/// Fetches (or finds in `blob_dir`) each of `sources`, adding its file to `fetched`.
pub async fn fetch_urls(
    sources: Vec<RemoteSource>,
    blob_dir: &Path,
    fetched: &mut FetchedSources,
) -> Result<(), RemoteSourceError> {
    if sources.is_empty() {
        return Ok(());
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
    Ok(())
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
