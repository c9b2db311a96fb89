//! Registry credentials from the Docker config file, as `docker login` writes them:
//! `auths.<registry>.auth` (base64 `user:password`), `username`/`password`, or a
//! credential helper (`credHelpers.<registry>` or `credsStore`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::error::RegistryError;

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn default_path() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => std::env::home_dir()
            .unwrap_or_default()
            .join(".docker/config.json"),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: std::collections::BTreeMap<String, String>,
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

/// The credentials for `registry` in the config at `path`; anonymous when the file or
/// an entry for the registry is missing.
pub fn registry_auth(path: &Path, registry: &str) -> Result<RegistryAuth, RegistryError> {
    let err = |problem: String| RegistryError::DockerConfig {
        path: path.to_path_buf(),
        problem,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RegistryAuth::Anonymous),
        Err(e) => return Err(err(e.to_string())),
    };
    let config: DockerConfig =
        serde_json::from_str(&text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let keys = registry_keys(registry);
    if let Some(helper) = keys
        .iter()
        .find_map(|k| config.cred_helpers.get(k))
        .or(config.creds_store.as_ref())
    {
        return helper_auth(helper, registry).map_err(err);
    }
    let Some(entry) = keys.iter().find_map(|k| config.auths.get(k)) else {
        return Ok(RegistryAuth::Anonymous);
    };
    if entry.identitytoken.is_some() {
        return Err(err(format!(
            "the entry for {registry} holds an identity token, which is not supported; log in with a user name and password or token"
        )));
    }
    if let (Some(user), Some(password)) = (&entry.username, &entry.password) {
        return Ok(RegistryAuth::Basic(user.clone(), password.clone()));
    }
    let Some(encoded) = &entry.auth else {
        return Ok(RegistryAuth::Anonymous);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            err(format!(
                "auths.{registry}.auth is not base64 of USER:PASSWORD"
            ))
        })?;
    let (user, password) = decoded.split_once(':').ok_or_else(|| {
        err(format!(
            "auths.{registry}.auth is not base64 of USER:PASSWORD"
        ))
    })?;
    Ok(RegistryAuth::Basic(user.into(), password.into()))
}

/// The credentials for `registry` from the first of `paths` that has any (several
/// image pull secrets, each mounted as its own Docker config); anonymous when none has.
pub fn registry_auth_from(
    paths: &[PathBuf],
    registry: &str,
) -> Result<(RegistryAuth, String), RegistryError> {
    for path in paths {
        let auth = registry_auth(path, registry)?;
        if auth != RegistryAuth::Anonymous {
            return Ok((auth, path.display().to_string()));
        }
    }
    let shown: Vec<_> = paths.iter().map(|p| p.display().to_string()).collect();
    Ok((RegistryAuth::Anonymous, shown.join(", ")))
}

/// The keys `docker login` may have used for `registry`.
fn registry_keys(registry: &str) -> Vec<String> {
    let mut keys = vec![
        registry.to_string(),
        format!("https://{registry}"),
        format!("http://{registry}"),
    ];
    if registry == "docker.io" || registry == "index.docker.io" {
        keys.push("https://index.docker.io/v1/".into());
    }
    keys
}

/// Asks `docker-credential-<helper> get` for the registry's credentials.
fn helper_auth(helper: &str, registry: &str) -> Result<RegistryAuth, String> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("credential helper {program} cannot be run: {e}"))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(registry.as_bytes())
        .map_err(|e| format!("{program}: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        // Helpers answer "credentials not found" with a failure: anonymous then.
        return Ok(RegistryAuth::Anonymous);
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{program} answered something other than credentials: {e}"))?;
    Ok(RegistryAuth::Basic(answer.username, answer.secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_auth_entries_by_registry() {
        // "me:s3cret"
        let (_d, path) = config(
            r#"{"auths":{"localhost:5000":{"auth":"bWU6czNjcmV0"},"https://ghcr.io":{"username":"u","password":"p"}}}"#,
        );
        let basic = |u: &str, p: &str| RegistryAuth::Basic(u.into(), p.into());
        assert_eq!(
            registry_auth(&path, "localhost:5000").unwrap(),
            basic("me", "s3cret")
        );
        assert_eq!(registry_auth(&path, "ghcr.io").unwrap(), basic("u", "p"));
        assert_eq!(
            registry_auth(&path, "quay.io").unwrap(),
            RegistryAuth::Anonymous
        );
    }

    #[test]
    fn missing_file_is_anonymous_and_bad_entries_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.json");
        assert_eq!(
            registry_auth(&missing, "r").unwrap(),
            RegistryAuth::Anonymous
        );

        let (_d, path) = config(r#"{"auths":{"r":{"auth":"not base64!"}}}"#);
        let e = registry_auth(&path, "r").unwrap_err().to_string();
        assert!(e.contains("auths.r.auth is not base64"), "{e}");

        let (_d, other) = config(r#"{"auths":{"q":{"username":"u","password":"p"}}}"#);
        let (auth, from) = registry_auth_from(&[missing.clone(), other.clone()], "q").unwrap();
        assert_eq!(auth, RegistryAuth::Basic("u".into(), "p".into()));
        assert_eq!(from, other.display().to_string());
        let (auth, _) = registry_auth_from(&[missing, other], "elsewhere").unwrap();
        assert_eq!(auth, RegistryAuth::Anonymous);

        let (_d, path) = config("{");
        let e = registry_auth(&path, "r").unwrap_err().to_string();
        assert!(e.contains("not valid JSON"), "{e}");
    }
}
