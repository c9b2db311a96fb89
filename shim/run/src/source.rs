//! Where `spin-run --from` finds the app: files on this machine, or a Spin app in an
//! OCI registry (what `spin registry push` / `spin kube push` produce), pulled into a
//! digest-verified blob cache.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use spin_app::LockedApp;
use spin_registry::package_config::PackageConfig;
use spin_registry::package_source::PackageAccess;
use spin_registry::pull::pull_app;
use spin_registry::sources::fetch_sources;
use spin_registry::{Reference, Registry, credentials};
use spin_runtime::content::{ArtifactContent, ContentResolver, LocalContent};

/// How to reach registries, from the command line.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    pub insecure: bool,
    pub docker_configs: Vec<PathBuf>,
    pub cache: PathBuf,
}

/// The app and the resolver for its content.
pub struct AppSource {
    pub app: LockedApp,
    pub content: Box<dyn ContentResolver>,
    /// The default directory for the app's state (key-value data).
    pub state_dir: PathBuf,
    /// What was run, for the log.
    pub description: String,
}

/// An existing path is a local app; otherwise `from` must be a registry reference that
/// names its registry host (`ghcr.io/me/app:v1`, `localhost:5000/app@sha256:…`), so a
/// mistyped path is not looked up on Docker Hub.
pub async fn resolve(
    from: &str,
    registry: &RegistryOptions,
    work_dir: &Path,
) -> anyhow::Result<AppSource> {
    let path = Path::new(from);
    if path.exists() {
        let packages = PackageAccess {
            insecure: registry.insecure,
            docker_configs: registry.docker_configs.clone(),
            config: PackageConfig::from_user_config()?,
        };
        let fetched = fetch_sources(path, &registry.cache.join("blobs"), &packages).await?;
        return Ok(AppSource {
            app: spin_app::load_app_fetched(path, &fetched)?,
            content: Box::new(LocalContent),
            state_dir: app_dir(path).join(".spin"),
            description: path.display().to_string(),
        });
    }
    let Some(reference) = registry_reference(from) else {
        bail!(
            "--from {from:?}: no such file or directory, and not a registry reference with a \
             registry host (e.g. ghcr.io/me/app:v1 or localhost:5000/app:v1)"
        );
    };
    pull(&reference, registry, work_dir).await
}

async fn pull(
    reference: &Reference,
    options: &RegistryOptions,
    work_dir: &Path,
) -> anyhow::Result<AppSource> {
    let (auth, auth_source) =
        credentials::registry_auth_from(&options.docker_configs, reference.registry())?;
    let registry = Registry {
        insecure: options.insecure,
        auth,
        auth_source,
    };
    let blob_dir = options.cache.join("blobs");
    let pulled = pull_app(reference, &registry, &blob_dir)
        .await
        .with_context(|| format!("pulling {}", reference.whole()))?;
    tracing::info!(
        reference = %reference.whole(),
        digest = %pulled.manifest_digest,
        layers = pulled.carried.len(),
        fetched = pulled.fetched,
        "pulled the app"
    );
    Ok(AppSource {
        app: pulled.locked,
        content: Box::new(ArtifactContent {
            blob_dir,
            carried: pulled.carried,
        }),
        state_dir: work_dir.join("state"),
        description: format!("{}@{}", reference.whole(), pulled.manifest_digest),
    })
}

/// `from` as a registry reference, if its first path segment is a registry host (has a
/// `.` or a `:`, or is `localhost`), as Docker tells hosts from repository names.
fn registry_reference(from: &str) -> Option<Reference> {
    let (host, rest) = from.split_once('/')?;
    let is_host = host.contains('.') || host.contains(':') || host == "localhost";
    if !is_host || rest.is_empty() || from.contains("://") {
        return None;
    }
    Reference::try_from(from).ok()
}

fn app_dir(from: &Path) -> PathBuf {
    if from.is_dir() {
        from.to_path_buf()
    } else {
        from.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_references_with_a_registry_host_go_to_a_registry() {
        for text in [
            "ghcr.io/me/app:v1",
            "localhost:5000/app:v1",
            "127.0.0.1:5000/team/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "localhost/app",
        ] {
            assert!(registry_reference(text).is_some(), "{text}");
        }
        for text in [
            "hello",
            "examples/hello",
            "./app",
            "../spin.toml",
            "http://ghcr.io/me/app:v1",
            "ghcr.io/",
        ] {
            assert!(registry_reference(text).is_none(), "{text}");
        }
    }
}
