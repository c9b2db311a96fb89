//! Staging a component's `files` into one directory, mounted read-only at `/` in the
//! guest. Files are hard-linked when they live on the same filesystem, else copied.

use std::path::{Component, Path};

use spin_app::locked::LockedComponent;

use crate::RuntimeError;
use crate::content::{Blob, ContentResolver};

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
        let rel = file.path.strip_prefix("/").unwrap_or(&file.path);
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(err(format!(
                "file path {} must stay inside the mount",
                file.path.display()
            )));
        }
        let target = dir.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| err(format!("{}: {e}", parent.display())))?;
        }
        match content
            .resolve(&file.content)
            .map_err(|p| err(format!("{}: {p}", file.path.display())))?
        {
            Blob::File(src) if src.is_dir() => {
                copy_dir(&src, &target).map_err(|e| err(format!("{}: {e}", src.display())))?
            }
            Blob::File(src) => {
                if std::fs::hard_link(&src, &target).is_err() {
                    std::fs::copy(&src, &target)
                        .map_err(|e| err(format!("{}: {e}", src.display())))?;
                }
            }
            Blob::Bytes(bytes) => std::fs::write(&target, bytes)
                .map_err(|e| err(format!("{}: {e}", target.display())))?,
        }
    }
    Ok(())
}

fn copy_dir(src: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dest)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let to = dest.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else {
            std::fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}
