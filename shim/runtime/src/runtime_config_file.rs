//! Reading a runtime config file from disk; the format and its checks are
//! [`spin_app::runtime_config`], shared with the operator, which renders inline runtime
//! config and validates it with the same parser.

use std::io::Read;
use std::path::Path;

pub use spin_app::runtime_config::{
    MAX_RUNTIME_CONFIG_BYTES, PlacedDatabases, RuntimeConfigError, RuntimeConfigFile,
};

/// Reads and parses `file` (a regular file of at most [`MAX_RUNTIME_CONFIG_BYTES`]).
pub fn read(file: &Path) -> Result<RuntimeConfigFile, RuntimeConfigError> {
    let whole = |problem: String| RuntimeConfigError {
        file: file.to_path_buf(),
        table: String::new(),
        problem,
    };
    let opened = crate::content::open_regular(file).map_err(|e| whole(e.to_string()))?;
    let mut bytes = Vec::new();
    opened
        .take(MAX_RUNTIME_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| whole(e.to_string()))?;
    if bytes.len() as u64 > MAX_RUNTIME_CONFIG_BYTES {
        return Err(whole(format!(
            "larger than {} KiB",
            MAX_RUNTIME_CONFIG_BYTES >> 10
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| whole("is not UTF-8 text".into()))?;
    RuntimeConfigFile::parse(&text, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded_to_regular_files() {
        let e = read(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_RUNTIME_CONFIG_BYTES as usize + 1]).unwrap();
        let e = read(&big).unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
    }
}
