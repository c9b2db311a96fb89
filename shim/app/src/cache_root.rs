//! Where this user's caches live by default, shared by `spin-run` (compiled
//! components, pulled apps) and `spin kube` (fetched remote sources).

use std::path::PathBuf;

/// `spin-kube` under `$XDG_CACHE_HOME` or `~/.cache`; `None` without either.
pub fn user_cache_root() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("spin-kube"))
}
