//! Keeping a node cache directory (compiled components, artifact layers) within a size:
//! every app deployed to a node adds entries, so without a bound the node's disk fills.
//!
//! Recency is a file's modification time: writing an entry sets it, and a use
//! ([`mark_used`]) sets it again. Past the bound the least recently used entries are
//! removed first, never the ones just written or in use by the caller. Removing a name
//! does not disturb a running app: Linux keeps a file's data while it is open, mapped
//! (compiled code) or hard-linked (a staged file), so eviction only costs the next start
//! that needs the entry a copy or a compile. Names starting with `.` (files being
//! written) are left alone; a compiled entry's checksum sidecar goes with it.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What one pass removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Evicted {
    pub files: usize,
    pub bytes: u64,
}

/// Marks a cache entry used now, so that it is evicted after those used longer ago.
pub fn mark_used(path: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// Files whose removal goes with an entry's (its checksum).
fn companion(path: &Path) -> Option<PathBuf> {
    (path.extension()? == "cwasm").then(|| path.with_extension("cwasm.sha256"))
}

/// Removes the least recently used entries of `dir` until they add up to at most
/// `max_bytes`, keeping those in `keep` whatever their age.
pub fn evict_least_recently_used(dir: &Path, max_bytes: u64, keep: &[PathBuf]) -> Evicted {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Evicted::default();
    };
    let mut entries: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
    let mut total = 0u64;
    for entry in listing.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.ends_with(".sha256") {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let path = entry.path();
        let size = meta.len()
            + companion(&path)
                .and_then(|c| c.metadata().ok())
                .map_or(0, |m| m.len());
        total = total.saturating_add(size);
        if !keep.contains(&path) {
            entries.push((
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                size,
                path,
            ));
        }
    }
    entries.sort();
    let mut evicted = Evicted::default();
    for (_, size, path) in entries {
        if total <= max_bytes {
            break;
        }
        // Another process may have removed it first: it is gone either way.
        let _ = std::fs::remove_file(&path);
        if let Some(companion) = companion(&path) {
            let _ = std::fs::remove_file(companion);
        }
        total -= size;
        evicted.files += 1;
        evicted.bytes += size;
    }
    if evicted.files > 0 {
        tracing::info!(
            dir = %dir.display(),
            files = evicted.files,
            bytes = evicted.bytes,
            max_bytes,
            "node cache over its bound: least recently used entries removed"
        );
    }
    evicted
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(dir: &Path, name: &str, bytes: usize, age_secs: u64) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, vec![0u8; bytes]).unwrap();
        let file = std::fs::File::options().append(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(age_secs))
            .unwrap();
        path
    }

    #[test]
    fn the_least_recently_used_entries_go_first_and_kept_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let oldest = entry(d, "a.cwasm", 400, 300);
        let sidecar = entry(d, "a.cwasm.sha256", 64, 300);
        let old = entry(d, "b", 400, 200);
        let kept = entry(d, "c", 400, 400);
        let recent = entry(d, "d", 400, 10);
        let writing = entry(d, ".tmpXYZ", 4000, 1000);

        // 1,664 bytes of entries, bound 900: the two least recently used not kept go.
        let evicted = evict_least_recently_used(d, 900, std::slice::from_ref(&kept));
        assert_eq!(
            evicted,
            Evicted {
                files: 2,
                bytes: 864
            }
        );
        assert!(!oldest.exists() && !sidecar.exists() && !old.exists());
        assert!(kept.exists() && recent.exists() && writing.exists());

        // A use makes an entry the most recent.
        mark_used(&kept);
        let evicted = evict_least_recently_used(d, 400, &[]);
        assert_eq!(evicted.files, 1);
        assert!(kept.exists() && !recent.exists());
    }

    #[test]
    fn an_entry_in_use_stays_readable_after_eviction() {
        let dir = tempfile::tempdir().unwrap();
        let path = entry(dir.path(), "layer", 1000, 100);
        let mut open = std::fs::File::open(&path).unwrap();
        evict_least_recently_used(dir.path(), 0, &[]);
        assert!(!path.exists());
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut open, &mut bytes).unwrap();
        assert_eq!(bytes.len(), 1000);
    }
}
