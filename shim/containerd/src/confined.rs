//! Runs work with a directory as its file-system root, so that every path it opens is
//! resolved inside that directory.
//!
//! A thread of our own unshares its file-system attributes (`CLONE_FS`, so the chroot
//! is its alone and the rest of the shim keeps the host's root), chroots into the
//! directory and changes to `/`. The kernel then resolves every path inside it: `..`
//! stops at it and absolute symlinks start from it. Files opened there go back to the
//! caller, which reads them by descriptor.

use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, unshare};

/// Why the confined work could not run.
#[derive(Debug, thiserror::Error)]
pub enum ConfinedError {
    #[error("cannot enter {}: {source}", root.display())]
    Enter { root: PathBuf, source: nix::Error },
    #[error("the {thread} thread {problem}")]
    Thread {
        thread: &'static str,
        problem: String,
    },
}

/// Runs `work` on a thread named `thread` whose root is `root`.
pub fn run_inside<T: Send + 'static>(
    root: &Path,
    thread: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ConfinedError> {
    let root = root.to_path_buf();
    std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || {
            let enter = |source| ConfinedError::Enter {
                root: root.clone(),
                source,
            };
            unshare(CloneFlags::CLONE_FS).map_err(enter)?;
            nix::unistd::chroot(&root).map_err(enter)?;
            nix::unistd::chdir("/").map_err(enter)?;
            Ok(work())
        })
        .map_err(|e| ConfinedError::Thread {
            thread,
            problem: format!("cannot start: {e}"),
        })?
        .join()
        .unwrap_or_else(|_| {
            Err(ConfinedError::Thread {
                thread,
                problem: "panicked".into(),
            })
        })
}
