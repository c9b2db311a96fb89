//! Finding the files that a `files` entry names, in bounded time: symlinked directories
//! are not entered (a link loop cannot recurse), and a walk stops with an error after
//! [`MAX_ENTRIES`] directory entries or [`MAX_DEPTH`] levels. A symlink to a file counts
//! as that file. Globs are matched against the walked files rather than expanded by
//! the file system, so they obey the same bounds.

use std::path::{Component, Path, PathBuf};

/// Most directory entries one `files` entry may make the loader look at.
pub const MAX_ENTRIES: usize = 100_000;
/// Deepest directory nesting below a `files` entry's directory.
pub const MAX_DEPTH: usize = 64;

/// Every regular file below `dir`, in a stable order; the error is a sentence.
pub fn files_below(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut budget = MAX_ENTRIES;
    walk(dir, 0, &mut budget, &mut out)?;
    Ok(out)
}

/// The regular files below `root` whose path relative to `root` matches `pattern`
/// (`*` and `?` stay within one path segment, `**` crosses them), sorted.
pub fn glob(root: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let matcher = glob::Pattern::new(pattern)
        .map_err(|e| format!("{pattern:?} is not a valid glob pattern: {e}"))?;
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    // Walk only below the pattern's literal leading directories.
    let literal: PathBuf = Path::new(pattern)
        .components()
        .take_while(
            |c| matches!(c, Component::Normal(s) if !s.to_string_lossy().contains(['*', '?', '['])),
        )
        .collect();
    let start = root.join(&literal);
    if !start.is_dir() {
        return Ok(Vec::new());
    }
    Ok(files_below(&start)?
        .into_iter()
        .filter(|file| {
            file.strip_prefix(root)
                .is_ok_and(|rel| matcher.matches_path_with(rel, options))
        })
        .collect())
}

fn walk(
    dir: &Path,
    depth: usize,
    budget: &mut usize,
    out: &mut Vec<PathBuf>,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "{} is nested more than {MAX_DEPTH} directories deep",
            dir.display()
        ));
    }
    let read = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut entries = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        *budget = budget.checked_sub(1).ok_or_else(|| {
            format!(
                "more than {MAX_ENTRIES} entries below {}; name fewer files",
                dir.display()
            )
        })?;
        entries.push(entry);
    }
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if kind.is_dir() {
            walk(&path, depth + 1, budget, out)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a.txt", "b.md", "sub/c.txt", "sub/deep/d.txt"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, f).unwrap();
        }
        dir
    }

    fn rel(root: &Path, files: Vec<PathBuf>) -> Vec<String> {
        files
            .iter()
            .map(|f| f.strip_prefix(root).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn globs_match_like_spin() {
        let dir = tree();
        let g = |p: &str| rel(dir.path(), glob(dir.path(), p).unwrap());
        assert_eq!(g("*.txt"), ["a.txt"]);
        assert_eq!(g("**/*.txt"), ["a.txt", "sub/c.txt", "sub/deep/d.txt"]);
        assert_eq!(g("sub/*.txt"), ["sub/c.txt"]);
        assert_eq!(g("sub/**/*"), ["sub/c.txt", "sub/deep/d.txt"]);
        assert!(g("nothing/*").is_empty());
    }

    #[test]
    fn symlink_loops_are_not_followed() {
        let dir = tree();
        std::os::unix::fs::symlink(".", dir.path().join("loop")).unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("sub/up")).unwrap();
        std::os::unix::fs::symlink("a.txt", dir.path().join("link.txt")).unwrap();
        let files = rel(dir.path(), files_below(dir.path()).unwrap());
        assert_eq!(
            files,
            ["a.txt", "b.md", "link.txt", "sub/c.txt", "sub/deep/d.txt"]
        );
        let g = rel(dir.path(), glob(dir.path(), "**/*.txt").unwrap());
        assert_eq!(g, ["a.txt", "link.txt", "sub/c.txt", "sub/deep/d.txt"]);
    }

    #[test]
    fn deep_trees_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let deep = (0..=MAX_DEPTH + 1).fold(dir.path().to_path_buf(), |p, _| p.join("d"));
        std::fs::create_dir_all(&deep).unwrap();
        let err = files_below(dir.path()).unwrap_err();
        assert!(err.contains("directories deep"), "{err}");
    }
}
