//! Assembling a Spin app into Spin's OCI artifact layout (see [`spin_app::oci`]): pure,
//! no network. The registry upload is in [`crate::registry`].

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use oci_client::client::{Config, ImageLayer};
use oci_client::config::{Architecture, ConfigFile, Os};
use oci_client::manifest::OciImageManifest;
use spin_app::load::{FetchedSources, file_path};
use spin_app::locked::ContentRef;
use spin_app::oci::{
    DATA_LAYER_MEDIA_TYPE, INLINE_MAX_BYTES, LOCKED_APP_DIGEST_LABEL, LOCKED_APP_MEDIA_TYPE,
    WASM_LAYER_MEDIA_TYPE,
};
use spin_app::{LockedApp, Sha256Digest};

use crate::error::PushError;

/// Everything one push uploads: the blobs in upload order, the image config and the
/// manifest that ties them together.
pub struct Artifact {
    /// Component, data and locked-app layers, each digest once, locked app last.
    pub layers: Vec<ImageLayer>,
    pub config: Config,
    pub manifest: OciImageManifest,
    /// The locked app as pushed: sources rewritten to digests.
    pub locked: LockedApp,
}

/// Builds the artifact from a locked app whose sources are local (`file://` or inline),
/// as [`spin_app::load_app`] returns it. `created` is the RFC 3339 creation time for the
/// `org.opencontainers.image.created` annotation.
pub fn assemble(app: &LockedApp, created: &str) -> Result<Artifact, PushError> {
    let mut locked = app.clone();
    let mut layers = Layers::default();
    for component in &mut locked.components {
        let wasm = read_content(&component.source.content, &component.id, "source")?;
        component.source.content = layers.add(wasm, WASM_LAYER_MEDIA_TYPE, true);
        // Dependencies and middleware travel as layers of their own, as Spin pushes
        // them, and are composed where the app runs.
        for (name, dependency) in &mut component.dependencies {
            let field = format!("dependencies.{name:?}");
            let wasm = read_content(&dependency.source.content, &component.id, &field)?;
            dependency.source.content = layers.add(wasm, WASM_LAYER_MEDIA_TYPE, true);
        }
        for (role, list) in &mut component.trigger_dependencies {
            for (index, dependency) in list.iter_mut().enumerate() {
                let field = format!("{role}[{index}]");
                let wasm = read_content(&dependency.source.content, &component.id, &field)?;
                dependency.source.content = layers.add(wasm, WASM_LAYER_MEDIA_TYPE, true);
            }
        }
        for file in &mut component.files {
            let field = format!("files ({})", file.path.display());
            let bytes = read_content(&file.content, &component.id, &field)?;
            // Small files live only inline in the locked app, as Spin pushes them: some
            // registries refuse tiny blobs.
            file.content = layers.add(bytes, DATA_LAYER_MEDIA_TYPE, false);
        }
    }
    locked.metadata.remove("origin");

    let locked_layer = ImageLayer::new(locked.to_json(), LOCKED_APP_MEDIA_TYPE.into(), None);
    let labels = [(
        LOCKED_APP_DIGEST_LABEL.to_string(),
        locked_layer.sha256_digest(),
    )]
    .into();
    layers.layers.push(locked_layer);

    // Without the locked app's digest in the config, every Spin app would share one
    // config digest, so one image ID in container runtimes.
    let config_file = ConfigFile {
        architecture: Architecture::Wasm,
        os: Os::Wasip1,
        config: Some(oci_client::config::Config {
            labels: Some(labels),
            ..Default::default()
        }),
        ..Default::default()
    };
    let config = Config::oci_v1_from_config_file(config_file, None)
        .map_err(|e| PushError::Assemble(format!("image config: {e}")))?;
    let manifest =
        OciImageManifest::build(&layers.layers, &config, Some(annotations(&locked, created)));
    Ok(Artifact {
        layers: layers.layers,
        config,
        manifest,
        locked,
    })
}

/// The layers so far, each digest once.
#[derive(Default)]
struct Layers {
    layers: Vec<ImageLayer>,
    seen: HashSet<Sha256Digest>,
}

impl Layers {
    /// Adds `bytes` as a layer (unless it is small inline-only data) and returns the
    /// content reference that replaces the local source.
    fn add(&mut self, bytes: Vec<u8>, media_type: &str, always_layer: bool) -> ContentRef {
        let digest = Sha256Digest::of(&bytes);
        let layer = ImageLayer::new(bytes, media_type.into(), None);
        let small = layer.data.len() <= INLINE_MAX_BYTES;
        let content = ContentRef {
            source: None,
            inline: small.then(|| layer.data.to_vec()),
            digest: Some(digest.clone()),
        };
        if (always_layer || !small) && self.seen.insert(digest) {
            self.layers.push(layer);
        }
        content
    }
}

/// The bytes behind a local content reference.
fn read_content(content: &ContentRef, component: &str, field: &str) -> Result<Vec<u8>, PushError> {
    if let Some(bytes) = &content.inline {
        return Ok(bytes.clone());
    }
    let Some(source) = &content.source else {
        return Err(PushError::component(
            component,
            format!("`{field}` has neither a local source nor inline content"),
        ));
    };
    let path = file_path(source).ok_or_else(|| {
        PushError::component(
            component,
            format!("`{field}` is {source:?}, not a local file; only local sources can be pushed"),
        )
    })?;
    std::fs::read(&path).map_err(|e| {
        PushError::component(
            component,
            format!("`{field}`: cannot read {}: {e}", path.display()),
        )
    })
}

/// Spin's predefined annotations: title, version, description and authors from the
/// app's metadata, and the creation time.
fn annotations(locked: &LockedApp, created: &str) -> BTreeMap<String, String> {
    use oci_client::annotations as keys;
    let mut out = BTreeMap::new();
    let text = |key: &str| {
        locked
            .metadata
            .get(key)
            .and_then(|v| v.as_str())
            .map(String::from)
    };
    for (annotation, key) in [
        (keys::ORG_OPENCONTAINERS_IMAGE_TITLE, "name"),
        (keys::ORG_OPENCONTAINERS_IMAGE_VERSION, "version"),
        (keys::ORG_OPENCONTAINERS_IMAGE_DESCRIPTION, "description"),
    ] {
        if let Some(value) = text(key) {
            out.insert(annotation.to_string(), value);
        }
    }
    let authors: Vec<&str> = locked
        .metadata
        .get("authors")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    if !authors.is_empty() {
        out.insert(
            keys::ORG_OPENCONTAINERS_IMAGE_AUTHORS.to_string(),
            authors.join(", "),
        );
    }
    out.insert(
        keys::ORG_OPENCONTAINERS_IMAGE_CREATED.to_string(),
        created.to_string(),
    );
    out
}

/// The manifest of the app at `path` (a directory or a `spin.toml`), which must exist.
pub fn manifest_of(path: &Path) -> Result<PathBuf, PushError> {
    let manifest = if path.is_dir() {
        path.join("spin.toml")
    } else {
        path.to_path_buf()
    };
    if !manifest.exists() {
        return Err(PushError::NoManifest(manifest));
    }
    Ok(manifest)
}

/// Loads the app of `manifest` ([`manifest_of`]), its remote sources `fetched`, and
/// assembles it.
pub fn assemble_from(
    manifest: &Path,
    fetched: &FetchedSources,
    created: &str,
) -> Result<Artifact, PushError> {
    let app = spin_app::load_app_fetched(manifest, fetched)?;
    assemble(&app, created)
}
