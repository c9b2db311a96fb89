//! Staging a component's `files` into one directory, mounted read-only at `/` in the
//! guest. Every file with a digest is checked against it first; files are then
//! hard-linked when they live on the same filesystem (the node's blob cache), else
//! copied.

use std::path::Path;

use spin_app::locked::{LockedComponent, is_mount_path};

use crate::RuntimeError;
use crate::content::{Blob, ContentResolver, verify_file};

pub fn stage(
    component: &LockedComponent,
    dir: &Path,
    content: &dyn ContentResolver,
) -> Result<(), RuntimeError> {
    let err = |problem: String| RuntimeError::Files {
        component: component.id.clone(),
        problem,
    };
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| err(format!("cannot clear {}: {e}", dir.display())))?;
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
    for file in &component.files {
        let shown = file.path.display();
        if !is_mount_path(&file.path) {
            return Err(err(format!("file path {shown} must stay inside the mount")));
        }
        let rel = file.path.strip_prefix("/").unwrap_or(&file.path);
        let target = dir.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| err(format!("{shown}: {e}")))?;
        }
        let blob = content
            .resolve(&file.content)
            .map_err(|p| err(format!("{shown}: {p}")))?;
        let expected = file.content.digest.as_ref();
        match blob {
            Blob::Dir(src) if expected.is_none() => {
                copy_dir(&src, &target).map_err(|e| err(format!("{}: {e}", src.display())))?
            }
            Blob::Dir(src) => {
                return Err(err(format!(
                    "{shown}: {} is a directory, but the app gives a digest",
                    src.display()
                )));
            }
            Blob::File { mut file, path } => {
                if let Some(expected) = expected {
                    verify_file(&mut file, expected).map_err(|p| err(format!("{shown}: {p}")))?;
                }
                let linked = path.is_some_and(|p| std::fs::hard_link(p, &target).is_ok());
                if !linked {
                    let mut out =
                        std::fs::File::create(&target).map_err(|e| err(format!("{shown}: {e}")))?;
                    std::io::copy(&mut file, &mut out).map_err(|e| err(format!("{shown}: {e}")))?;
                }
            }
            Blob::Bytes(bytes) => {
                if let Some(expected) = expected {
                    let actual = spin_app::Sha256Digest::of(&bytes);
                    if actual != *expected {
                        return Err(err(format!(
                            "{shown}: content has digest {actual}, but the app says {expected}"
                        )));
                    }
                }
                std::fs::write(&target, bytes).map_err(|e| err(format!("{shown}: {e}")))?
            }
        }
    }
    Ok(())
}

/// Copies a local directory (the developer's own, for `spin-run`); symlinks to
/// directories are not entered.
fn copy_dir(src: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dest)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let to = dest.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else if entry.path().is_file() {
            std::fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::ArtifactContent;
    use spin_app::Sha256Digest;
    use spin_app::locked::{ContentPath, ContentRef, LockedSource};

    fn component(files: Vec<ContentPath>) -> LockedComponent {
        LockedComponent {
            id: "c".into(),
            metadata: Default::default(),
            source: LockedSource {
                content_type: "application/wasm".into(),
                content: ContentRef::default(),
            },
            env: Default::default(),
            files,
            config: Default::default(),
            dependencies: Default::default(),
            host_requirements: Default::default(),
        }
    }

    #[test]
    fn a_layer_whose_bytes_do_not_match_its_digest_is_refused() {
        let blobs = tempfile::tempdir().unwrap();
        let claimed = Sha256Digest::of(b"the real file");
        std::fs::create_dir_all(blobs.path().join("sha256")).unwrap();
        std::fs::write(
            blobs.path().join("sha256").join(claimed.hex()),
            b"tampered bytes",
        )
        .unwrap();
        let content = ArtifactContent {
            blob_dir: blobs.path().to_path_buf(),
            carried: [claimed.clone()].into(),
        };
        let c = component(vec![ContentPath {
            content: ContentRef {
                digest: Some(claimed),
                ..Default::default()
            },
            path: "static/a.txt".into(),
        }]);
        let out = tempfile::tempdir().unwrap();
        let e = stage(&c, &out.path().join("files"), &content)
            .unwrap_err()
            .to_string();
        assert!(e.contains("but the app says"), "{e}");
    }

    #[test]
    fn verified_layers_and_inline_bytes_are_staged() {
        let blobs = tempfile::tempdir().unwrap();
        let digest = Sha256Digest::of(b"layer bytes");
        std::fs::create_dir_all(blobs.path().join("sha256")).unwrap();
        std::fs::write(
            blobs.path().join("sha256").join(digest.hex()),
            b"layer bytes",
        )
        .unwrap();
        let content = ArtifactContent {
            blob_dir: blobs.path().to_path_buf(),
            carried: [digest.clone()].into(),
        };
        let c = component(vec![
            ContentPath {
                content: ContentRef {
                    digest: Some(digest),
                    ..Default::default()
                },
                path: "/static/a.txt".into(),
            },
            ContentPath {
                content: ContentRef {
                    inline: Some(b"hi".to_vec()),
                    digest: Some(Sha256Digest::of(b"hi")),
                    ..Default::default()
                },
                path: "b.txt".into(),
            },
        ]);
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("files");
        stage(&c, &dir, &content).unwrap();
        assert_eq!(
            std::fs::read(dir.join("static/a.txt")).unwrap(),
            b"layer bytes"
        );
        assert_eq!(std::fs::read(dir.join("b.txt")).unwrap(), b"hi");
    }
}
