//! What a dynamically linked binary needs in an image of its own: the binary (stripped)
//! and the shared libraries and loader `ldd` names, at the paths it names them.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("cannot run `{command}` on {binary}: {reason}")]
    Tool {
        command: &'static str,
        binary: PathBuf,
        reason: String,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A file for the image: its absolute path there and its content.
#[derive(Debug, Clone)]
pub struct ImageFile {
    pub path: String,
    pub content: Vec<u8>,
    pub mode: u32,
}

/// The binary, stripped of debug information, at `/NAME`.
pub fn stripped_binary(binary: &Path) -> Result<ImageFile, RootfsError> {
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let out_dir = std::env::temp_dir().join(format!("spin-kube-images-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).map_err(|source| RootfsError::Read {
        path: out_dir.clone(),
        source,
    })?;
    let stripped = out_dir.join(&name);
    let status = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(binary)
        .output()
        .map_err(|e| RootfsError::Tool {
            command: "strip",
            binary: binary.to_path_buf(),
            reason: format!("{e} (binutils)"),
        })?;
    if !status.status.success() {
        return Err(RootfsError::Tool {
            command: "strip",
            binary: binary.to_path_buf(),
            reason: String::from_utf8_lossy(&status.stderr).trim().to_string(),
        });
    }
    let content = read(&stripped)?;
    let _ = std::fs::remove_dir_all(&out_dir);
    Ok(ImageFile {
        path: format!("/{name}"),
        content,
        mode: 0o755,
    })
}

/// The shared libraries and the loader the binary is linked against (none for a
/// static binary).
pub fn shared_libraries(binary: &Path) -> Result<Vec<ImageFile>, RootfsError> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| RootfsError::Tool {
            command: "ldd",
            binary: binary.to_path_buf(),
            reason: e.to_string(),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if text.contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        return Err(RootfsError::Tool {
            command: "ldd",
            binary: binary.to_path_buf(),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let mut files = Vec::new();
    for path in library_paths(&text) {
        files.push(ImageFile {
            content: read(Path::new(&path))?,
            path,
            mode: 0o755,
        });
    }
    Ok(files)
}

/// Paths in `ldd` output: `libc.so.6 => /lib/.../libc.so.6 (0x..)` and the loader
/// `/lib64/ld-linux-x86-64.so.2 (0x..)`; the vDSO has no file.
fn library_paths(ldd: &str) -> Vec<String> {
    ldd.lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, right)) => right.trim(),
                None => line,
            };
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| path.to_string())
        })
        .collect()
}

fn read(path: &Path) -> Result<Vec<u8>, RootfsError> {
    std::fs::read(path).map_err(|source| RootfsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_library_and_loader_paths() {
        let ldd = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f52)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f53)\n";
        assert_eq!(
            library_paths(ldd),
            [
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
    }
}
