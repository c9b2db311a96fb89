//! Reading a runtime config file from disk; the format and its checks are
//! [`spin_app::runtime_config`], shared with the operator, which renders inline runtime
//! config and validates it with the same parser.

use std::io::Read;
use std::path::Path;

pub use spin_app::runtime_config::{
    ClientTlsTable, MAX_RUNTIME_CONFIG_BYTES, PlacedDatabases, RuntimeConfigError,
    RuntimeConfigFile,
};

use crate::tls::{ClientTls, ClientTlsEntry, TlsMaterial};

/// Largest certificate or key file a `[[client_tls]]` table may name.
pub const MAX_TLS_FILE_BYTES: u64 = 1 << 20;

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

/// The TLS setups of `file`'s `[[client_tls]]` tables, their files read by `read`
/// (given the path as written; the embedder decides where it leads).
pub fn client_tls(
    file: &Path,
    tables: &[ClientTlsTable],
    read: impl Fn(&Path) -> Result<Vec<u8>, String>,
) -> Result<ClientTls, RuntimeConfigError> {
    let entries = tables
        .iter()
        .enumerate()
        .map(|(index, table)| {
            let problem = |problem: String| RuntimeConfigError {
                file: file.to_path_buf(),
                table: format!("[[client_tls]] #{}: ", index + 1),
                problem,
            };
            let load = |key: &str, path: &Path| {
                read(path).map_err(|e| problem(format!("`{key}` {}: {e}", path.display())))
            };
            let roots = table
                .ca_roots_file
                .as_deref()
                .map(|path| load("ca_roots_file", path))
                .transpose()?;
            let identity = match &table.client_cert {
                Some((cert, key)) => Some((
                    load("client_cert_file", cert)?,
                    load("client_private_key_file", key)?,
                )),
                None => None,
            };
            let material = TlsMaterial::from_pem(
                roots.as_deref(),
                table.builtin_roots,
                identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
            )
            .map_err(problem)?;
            Ok(ClientTlsEntry {
                component_ids: table.component_ids.clone(),
                hosts: table.hosts.clone(),
                material,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    ClientTls::new(entries).map_err(|problem| RuntimeConfigError {
        file: file.to_path_buf(),
        table: String::new(),
        problem,
    })
}

/// Reads a certificate or key file of at most [`MAX_TLS_FILE_BYTES`] from an open
/// regular file.
pub fn read_tls_file(file: std::fs::File) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    file.take(MAX_TLS_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_TLS_FILE_BYTES {
        return Err(format!("larger than {} KiB", MAX_TLS_FILE_BYTES >> 10));
    }
    Ok(bytes)
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
