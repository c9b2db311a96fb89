//! Finding the bytes a locked app refers to, and checking them against their digests.
//!
//! Where content may come from depends on who wrote the app, so each embedder picks a
//! resolver:
//! - [`LocalContent`] (`spin-run` on the developer's own files): inline content and
//!   `file://` sources, directories included;
//! - [`ArtifactContent`] (the shim, a Spin OCI artifact): inline content and digests of
//!   the layers that this artifact carries, read from the node's blob cache
//!   (`<dir>/sha256/<hex>`). A `source` is refused: an artifact must not name files on
//!   the node;
//! - the shim's root-filesystem apps bring their own resolver over files opened inside
//!   the container's root.
//!
//! Whatever the resolver, content with a `digest` is only used after its bytes hashed
//! to that digest ([`read_verified`], [`verify_file`]).

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek};
use std::path::PathBuf;

use spin_app::Sha256Digest;
use spin_app::locked::ContentRef;

/// Where a piece of content is.
#[derive(Debug)]
pub enum Blob {
    /// Inline bytes.
    Bytes(Vec<u8>),
    /// An open regular file; `path`, when there is one, may be hard-linked.
    File { file: File, path: Option<PathBuf> },
    /// A local directory (`spin-run` only), copied whole.
    Dir(PathBuf),
}

/// Why content could not be found or used; a sentence for the user, said of one
/// component's source or file (the caller names which).
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("the content has none of `inline`, `source` or `digest`")]
    Empty,
    #[error(
        "content {digest} has no `source` or `inline` bytes; a local app names its files by `source`"
    )]
    LocalWithoutSource { digest: Sha256Digest },
    #[error("source {url:?} is not a file:// URL")]
    NotFileUrl { url: String },
    #[error(
        "names its content by `source` ({url:?}); an app from an OCI artifact may only use \
         `digest` (one of its layers) or `inline` content. Push the app with \
         `spin registry push` or `spin-kube push`"
    )]
    SourceInArtifact { url: String },
    #[error("the content has neither `inline` bytes nor a `digest`")]
    NoDigest,
    #[error("{digest} is not a Wasm or data layer of the app's image manifest")]
    NotCarried { digest: Sha256Digest },
    #[error("the content has no `source` in the image")]
    NoSourceInImage,
    #[error("{url} was not opened from the image")]
    NotOpened { url: String },
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("cannot read the content: {0}")]
    Read(#[source] std::io::Error),
    #[error("{} is not a regular file", path.display())]
    NotRegular { path: PathBuf },
    #[error("{} is a directory", path.display())]
    Directory { path: PathBuf },
    #[error("larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("content has digest {actual}, but the app says {expected}")]
    Mismatch {
        actual: Sha256Digest,
        expected: Sha256Digest,
    },
}

/// Resolves content references.
pub trait ContentResolver: Send + Sync + std::fmt::Debug {
    fn resolve(&self, content: &ContentRef) -> Result<Blob, ContentError>;

    /// Whether a [`Blob::File`] this resolver returns for a `digest` was checked against
    /// that digest when it was stored (the node's blob cache), so that the digest may
    /// name its bytes before they are read. Inline bytes never are.
    fn files_match_their_digests(&self) -> bool {
        false
    }
}

/// Inline content and `file://` sources: an app on the developer's own disk.
#[derive(Debug, Default, Clone)]
pub struct LocalContent;

impl ContentResolver for LocalContent {
    fn resolve(&self, content: &ContentRef) -> Result<Blob, ContentError> {
        if let Some(bytes) = &content.inline {
            return Ok(Blob::Bytes(bytes.clone()));
        }
        let Some(source) = &content.source else {
            return Err(match &content.digest {
                Some(digest) => ContentError::LocalWithoutSource {
                    digest: digest.clone(),
                },
                None => ContentError::Empty,
            });
        };
        let path = spin_app::load::file_path(source).ok_or_else(|| ContentError::NotFileUrl {
            url: source.clone(),
        })?;
        if path.is_dir() {
            return Ok(Blob::Dir(path));
        }
        let file = open_regular(&path)?;
        Ok(Blob::File {
            file,
            path: Some(path),
        })
    }
}

/// Content an OCI artifact carries: inline bytes, or one of its own layers by digest.
#[derive(Debug, Clone)]
pub struct ArtifactContent {
    /// The node's blob cache (`<dir>/sha256/<hex>`).
    pub blob_dir: PathBuf,
    /// The digests of this artifact's Wasm and data layers; no other blob is served,
    /// even if another app put it in the cache.
    pub carried: HashSet<Sha256Digest>,
}

impl ContentResolver for ArtifactContent {
    fn resolve(&self, content: &ContentRef) -> Result<Blob, ContentError> {
        if let Some(source) = &content.source {
            return Err(ContentError::SourceInArtifact {
                url: source.chars().take(100).collect(),
            });
        }
        if let Some(bytes) = &content.inline {
            return Ok(Blob::Bytes(bytes.clone()));
        }
        let Some(digest) = &content.digest else {
            return Err(ContentError::NoDigest);
        };
        if !self.carried.contains(digest) {
            return Err(ContentError::NotCarried {
                digest: digest.clone(),
            });
        }
        let path = self.blob_dir.join("sha256").join(digest.hex());
        let file = open_regular(&path)?;
        Ok(Blob::File {
            file,
            path: Some(path),
        })
    }

    /// The blob cache holds only bytes that hashed to their name when they were copied
    /// from containerd's content store.
    fn files_match_their_digests(&self) -> bool {
        true
    }
}

/// Opens `path` for reading if it is a regular file (not a device, FIFO or socket).
pub fn open_regular(path: &std::path::Path) -> Result<File, ContentError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |error| ContentError::Io {
        path: path.to_path_buf(),
        error,
    };
    // Non-blocking, so a FIFO cannot hang the open; the type check then refuses it.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(ContentError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    Ok(file)
}

/// The bytes of a blob, at most `limit` of them, checked against `expected` when given.
pub fn read_verified(
    blob: Blob,
    expected: Option<&Sha256Digest>,
    limit: u64,
) -> Result<Vec<u8>, ContentError> {
    let bytes = match blob {
        Blob::Bytes(bytes) => bytes,
        Blob::Dir(path) => return Err(ContentError::Directory { path }),
        Blob::File { file, path } => {
            let mut bytes = Vec::new();
            file.take(limit + 1)
                .read_to_end(&mut bytes)
                .map_err(|error| match path {
                    Some(path) => ContentError::Io { path, error },
                    None => ContentError::Read(error),
                })?;
            bytes
        }
    };
    if bytes.len() as u64 > limit {
        return Err(ContentError::TooLarge { limit });
    }
    if let Some(expected) = expected {
        check_digest(Sha256Digest::of(&bytes), expected)?;
    }
    Ok(bytes)
}

/// Hashes an open file (streamed) and compares it with `expected`; leaves the file at
/// its start for whoever reads it next.
pub fn verify_file(file: &mut File, expected: &Sha256Digest) -> Result<(), ContentError> {
    let (actual, _) = Sha256Digest::of_reader(&mut *file).map_err(ContentError::Read)?;
    file.rewind().map_err(ContentError::Read)?;
    check_digest(actual, expected)
}

fn check_digest(actual: Sha256Digest, expected: &Sha256Digest) -> Result<(), ContentError> {
    if actual == *expected {
        return Ok(());
    }
    Err(ContentError::Mismatch {
        actual,
        expected: expected.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(resolver: &dyn ContentResolver, c: ContentRef) -> Result<Vec<u8>, String> {
        let expected = c.digest.clone();
        read_verified(
            resolver.resolve(&c).map_err(|e| e.to_string())?,
            expected.as_ref(),
            1 << 20,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn local_content_reads_inline_and_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.txt"), b"file").unwrap();
        let inline = ContentRef {
            inline: Some(b"hi".to_vec()),
            ..Default::default()
        };
        assert_eq!(read(&LocalContent, inline).unwrap(), b"hi");
        let url = spin_app::load::file_url(&dir.path().join("f.txt"));
        let file = ContentRef {
            source: Some(url.clone()),
            digest: Some(Sha256Digest::of(b"file")),
            ..Default::default()
        };
        assert_eq!(read(&LocalContent, file).unwrap(), b"file");
        let wrong = ContentRef {
            source: Some(url),
            digest: Some(Sha256Digest::of(b"other")),
            ..Default::default()
        };
        assert!(
            read(&LocalContent, wrong)
                .unwrap_err()
                .contains("but the app says")
        );
        assert!(
            read(&LocalContent, ContentRef::default())
                .unwrap_err()
                .contains("none of")
        );
    }

    #[test]
    fn artifact_content_serves_only_its_own_layers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sha256")).unwrap();
        let own = Sha256Digest::of(b"layer");
        let other = Sha256Digest::of(b"someone else's");
        for (digest, bytes) in [(&own, &b"layer"[..]), (&other, b"someone else's")] {
            std::fs::write(dir.path().join("sha256").join(digest.hex()), bytes).unwrap();
        }
        let artifact = ArtifactContent {
            blob_dir: dir.path().to_path_buf(),
            carried: [own.clone()].into(),
        };
        let by_digest = |d: &Sha256Digest| ContentRef {
            digest: Some(d.clone()),
            ..Default::default()
        };
        assert_eq!(read(&artifact, by_digest(&own)).unwrap(), b"layer");
        let e = read(&artifact, by_digest(&other)).unwrap_err();
        assert!(e.contains("is not a Wasm or data layer"), "{e}");
        let source = ContentRef {
            source: Some("file:///etc/passwd".into()),
            ..Default::default()
        };
        let e = read(&artifact, source).unwrap_err();
        assert!(e.contains("may only use `digest`"), "{e}");
    }

    #[test]
    fn only_regular_files_are_opened() {
        let e = open_regular(std::path::Path::new("/dev/null"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = open_regular(&fifo).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn reads_are_bounded() {
        let blob = Blob::Bytes(vec![0; 10]);
        assert!(matches!(
            read_verified(blob, None, 9),
            Err(ContentError::TooLarge { limit: 9 })
        ));
    }
}
