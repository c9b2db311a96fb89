//! Finding the bytes a locked app refers to: inline content, `file://` sources, or
//! digests looked up in OCI-layout blob directories (`<dir>/sha256/<hex>`), which is
//! also how containerd's content store lays out blobs on disk.

use std::path::PathBuf;

use spin_app::locked::ContentRef;

/// Where a piece of content is.
#[derive(Debug)]
pub enum Blob {
    File(PathBuf),
    Bytes(Vec<u8>),
}

impl Blob {
    pub fn read(&self) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
        match self {
            Blob::File(path) => std::fs::read(path).map(Into::into),
            Blob::Bytes(bytes) => Ok(bytes.as_slice().into()),
        }
    }
}

/// Resolves content references; the error is a sentence for the user.
pub trait ContentResolver: Send + Sync + std::fmt::Debug {
    fn resolve(&self, content: &ContentRef) -> Result<Blob, String>;
}

/// Resolves inline content, `file://` URLs, and digests in the given blob directories.
#[derive(Debug, Default, Clone)]
pub struct LocalContent {
    pub blob_dirs: Vec<PathBuf>,
}

impl ContentResolver for LocalContent {
    fn resolve(&self, content: &ContentRef) -> Result<Blob, String> {
        if let Some(bytes) = &content.inline {
            return Ok(Blob::Bytes(bytes.clone()));
        }
        if let Some(source) = &content.source {
            let path = spin_app::load::file_path(source)
                .ok_or_else(|| format!("source {source:?} is not a file:// URL"))?;
            if !path.exists() {
                return Err(format!("{} does not exist", path.display()));
            }
            return Ok(Blob::File(path));
        }
        if let Some(digest) = &content.digest {
            let (algo, hex) = digest
                .split_once(':')
                .ok_or_else(|| format!("digest {digest:?} is not of the form sha256:<hex>"))?;
            return self
                .blob_dirs
                .iter()
                .map(|dir| dir.join(algo).join(hex))
                .find(|p| p.is_file())
                .map(Blob::File)
                .ok_or_else(|| format!("no blob {digest} in the app's layers"));
        }
        Err("the content has none of `inline`, `source` or `digest`".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_each_kind() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sha256")).unwrap();
        std::fs::write(dir.path().join("sha256/abc"), b"layer").unwrap();
        std::fs::write(dir.path().join("f.txt"), b"file").unwrap();
        let local = LocalContent {
            blob_dirs: vec![dir.path().to_path_buf()],
        };
        let read = |c: ContentRef| local.resolve(&c).map(|b| b.read().unwrap().into_owned());
        assert_eq!(
            read(ContentRef {
                inline: Some(b"hi".to_vec()),
                ..Default::default()
            })
            .unwrap(),
            b"hi"
        );
        let url = spin_app::load::file_url(&dir.path().join("f.txt"));
        assert_eq!(
            read(ContentRef {
                source: Some(url),
                ..Default::default()
            })
            .unwrap(),
            b"file"
        );
        assert_eq!(
            read(ContentRef {
                digest: Some("sha256:abc".into()),
                ..Default::default()
            })
            .unwrap(),
            b"layer"
        );
        let missing = read(ContentRef {
            digest: Some("sha256:def".into()),
            ..Default::default()
        });
        assert!(missing.unwrap_err().contains("sha256:def"));
        assert!(read(ContentRef::default()).unwrap_err().contains("none of"));
    }
}
