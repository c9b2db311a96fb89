//! Staging a component's `files` into one directory, mounted read-only at `/` in the
//! guest. Every file with a digest is checked against it first; files are then
//! hard-linked when they live on the same filesystem (the node's blob cache), else
//! copied. All components' files together are bounded by [`FilesBudget`]
//! (`SPIN_FILES_MAX_BYTES`): in a pod they land in the container's bundle on `/run`.

use std::io::{Read, Write};
use std::path::Path;

use spin_app::locked::{LockedComponent, is_mount_path};

use crate::RuntimeError;
use crate::content::{Blob, ContentResolver, verify_file};

/// What is left of the bytes an app's files may take, shared by its components.
#[derive(Debug)]
pub struct FilesBudget {
    limit: u64,
    left: u64,
}

impl FilesBudget {
    pub fn new(limit: u64) -> Self {
        Self { limit, left: limit }
    }

    fn charge(&mut self, bytes: u64) -> Result<(), String> {
        self.left = self.left.checked_sub(bytes).ok_or_else(|| {
            format!(
                "the app's files come to more than SPIN_FILES_MAX_BYTES ({} bytes, all \
                 components together); raise it (invocation limit \
                 spin-kube.dev/maxFilesBytes) or ship fewer files",
                self.limit
            )
        })?;
        Ok(())
    }

    /// Copies a file of `len` bytes (as its metadata said), charging it first; a file
    /// that grows meanwhile is cut at `len`.
    fn copy(&mut self, from: impl Read, len: u64, to: &Path) -> Result<(), String> {
        self.charge(len)?;
        let mut out = std::fs::File::create(to).map_err(|e| e.to_string())?;
        std::io::copy(&mut from.take(len), &mut out).map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())
    }
}

pub fn stage(
    component: &LockedComponent,
    dir: &Path,
    content: &dyn ContentResolver,
    budget: &mut FilesBudget,
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
            Blob::Dir(src) if expected.is_none() => copy_dir(&src, &target, budget)
                .map_err(|e| err(format!("{}: {e}", src.display())))?,
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
                let len = file
                    .metadata()
                    .map_err(|e| err(format!("{shown}: {e}")))?
                    .len();
                let linked = path.is_some_and(|p| std::fs::hard_link(p, &target).is_ok());
                let staged = if linked {
                    budget.charge(len)
                } else {
                    budget.copy(&mut file, len, &target)
                };
                staged.map_err(|e| err(format!("{shown}: {e}")))?;
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
                budget
                    .charge(bytes.len() as u64)
                    .map_err(|e| err(format!("{shown}: {e}")))?;
                std::fs::write(&target, bytes).map_err(|e| err(format!("{shown}: {e}")))?
            }
        }
    }
    Ok(())
}

/// Copies a local directory (the developer's own, for `spin-run`); symlinks to
/// directories are not entered.
fn copy_dir(src: &Path, dest: &Path, budget: &mut FilesBudget) -> Result<(), String> {
    std::fs::create_dir_all(dest).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(src).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let to = dest.join(entry.file_name());
        let shown = |e: String| format!("{}: {e}", entry.path().display());
        if entry.file_type().map_err(|e| e.to_string())?.is_dir() {
            copy_dir(&entry.path(), &to, budget)?;
        } else if entry.path().is_file() {
            let file = std::fs::File::open(entry.path()).map_err(|e| shown(e.to_string()))?;
            let len = file.metadata().map_err(|e| shown(e.to_string()))?.len();
            budget.copy(file, len, &to).map_err(shown)?;
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
            trigger_dependencies: Default::default(),
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
        let e = stage(
            &c,
            &out.path().join("files"),
            &content,
            &mut FilesBudget::new(1 << 20),
        )
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
        let mut budget = FilesBudget::new(1 << 20);
        stage(&c, &dir, &content, &mut budget).unwrap();
        assert_eq!(
            std::fs::read(dir.join("static/a.txt")).unwrap(),
            b"layer bytes"
        );
        assert_eq!(std::fs::read(dir.join("b.txt")).unwrap(), b"hi");
        assert_eq!(budget.left, (1 << 20) - 13);

        // The same files with less room left (another component took the rest): refused,
        // naming the file that passed the bound and the setting.
        let e = stage(&c, &dir, &content, &mut FilesBudget::new(12))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("b.txt: the app's files come to more than SPIN_FILES_MAX_BYTES (12 bytes"),
            "{e}"
        );
    }

    #[test]
    fn a_local_directory_is_copied_within_the_budget() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("sub")).unwrap();
        std::fs::write(src.path().join("a"), vec![b'a'; 600]).unwrap();
        std::fs::write(src.path().join("sub/b"), vec![b'b'; 600]).unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut budget = FilesBudget::new(1000);
        let e = copy_dir(src.path(), out.path(), &mut budget).unwrap_err();
        assert!(
            e.contains("more than SPIN_FILES_MAX_BYTES (1000 bytes"),
            "{e}"
        );
        let mut budget = FilesBudget::new(1200);
        copy_dir(src.path(), &out.path().join("all"), &mut budget).unwrap();
        assert_eq!(
            std::fs::read(out.path().join("all/sub/b")).unwrap().len(),
            600
        );
    }
}
