//! Reading an app's own files (`spin.toml`, a locked app JSON), bounded.

use std::path::Path;

use crate::AppError;

/// Largest `spin.toml` or locked app file read.
pub const MAX_APP_FILE_BYTES: u64 = 16 << 20;

/// A manifest or locked app file, refused past [`MAX_APP_FILE_BYTES`].
pub(crate) fn read_app_file(path: &Path) -> Result<Vec<u8>, AppError> {
    use std::io::Read;
    let err = |source| AppError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(err)?
        .take(MAX_APP_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(err)?;
    if bytes.len() as u64 > MAX_APP_FILE_BYTES {
        return Err(err(std::io::Error::other(format!(
            "larger than {} MiB",
            MAX_APP_FILE_BYTES >> 20
        ))));
    }
    Ok(bytes)
}
