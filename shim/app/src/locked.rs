//! The locked app: a fully resolved Spin application, as Spin writes it to `spin.lock`
//! and into the OCI config blob (`application/vnd.fermyon.spin.application.v1+config`).
//!
//! The model follows Spin's `spin_lock_version` 1 format: unknown fields are ignored,
//! except that every entry of `must_understand` and every `required` host requirement
//! must be known to this runtime, or the app is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::{AppError, Sha256Digest};

/// Host requirements (`host_requirements`) this runtime supports: calls to
/// `<component>.spin.internal` served in-process, and HTTP middleware composed into
/// the component it wraps.
pub const SUPPORTED_HOST_REQUIREMENTS: &[&str] = &["local_service_chaining", "middleware"];
/// `must_understand` entries this runtime knows.
const KNOWN_MUST_UNDERSTAND: &[&str] = &["host_requirements", "component_host_requirements"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedApp {
    /// Accepted: 0 and 1. Written as 1 when the app uses `must_understand`, else 0, as
    /// Spin does, so older hosts can still read it.
    #[serde(deserialize_with = "lock_version")]
    pub spin_lock_version: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub must_understand: Vec<String>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, Value>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub host_requirements: serde_json::Map<String, Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, Variable>,
    pub triggers: Vec<LockedTrigger>,
    pub components: Vec<LockedComponent>,
}

fn lock_version<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v > 1 {
        return Err(serde::de::Error::custom(format!(
            "spin_lock_version {v} is newer than this runtime understands (0 or 1)"
        )));
    }
    Ok(v)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedComponent {
    pub id: String,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, Value>,
    pub source: LockedSource,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ContentPath>,
    /// Component variables: name to template (`{{ app_var }}` references).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// Components that satisfy some of this one's imports, by dependency name (an import
    /// name such as `my:lib/greet@0.1.0`, a package `my:lib`, or a plain kebab name):
    /// composed into it when it is loaded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, LockedDependency>,
    /// Components the trigger wraps around this one, by role: `middleware` for HTTP,
    /// outermost first.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trigger_dependencies: BTreeMap<String, Vec<LockedDependency>>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub host_requirements: serde_json::Map<String, Value>,
}

/// A dependency of a component: its Wasm, which export satisfies the import (default:
/// the export of the import's name) and which of the component's configuration it may
/// use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedDependency {
    pub source: LockedSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<String>,
    #[serde(default, skip_serializing_if = "InheritConfiguration::is_nothing")]
    pub inherit: InheritConfiguration,
}

/// Which of its parent component's configuration a dependency may use, as Spin writes it
/// (`"All"`, or `{"Some": ["key_value_stores", ...]}`); by default nothing. What each
/// name covers is [`crate::inherit`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InheritConfiguration {
    All,
    Some(Vec<String>),
}

impl Default for InheritConfiguration {
    fn default() -> Self {
        Self::Some(Vec::new())
    }
}

impl InheritConfiguration {
    fn is_nothing(&self) -> bool {
        matches!(self, Self::Some(names) if names.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedSource {
    /// `application/wasm`.
    pub content_type: String,
    #[serde(flatten)]
    pub content: ContentRef,
}

/// Content mounted into the guest at `path`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPath {
    #[serde(flatten)]
    pub content: ContentRef,
    pub path: PathBuf,
}

/// Where content comes from: a URL (`file://` locally), the bytes inline (base64), and/or
/// the SHA-256 digest (`sha256:<hex>`) that names an OCI layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContentRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_base64",
        deserialize_with = "de_base64"
    )]
    pub inline: Option<Vec<u8>>,
    /// Validated when parsed: `sha256:` and 64 lowercase hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Sha256Digest>,
}

fn ser_base64<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(bytes) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes)),
        None => s.serialize_none(),
    }
}

fn de_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("`inline` is not valid base64: {e}")))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedTrigger {
    pub id: String,
    pub trigger_type: String,
    pub trigger_config: Value,
    /// Components this trigger wraps around its component (`middleware`); moved onto
    /// the component when the app is read ([`crate::middleware`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trigger_dependencies: BTreeMap<String, Vec<LockedDependency>>,
}

/// An application variable: a default, or required; `secret` ones are never logged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

impl LockedApp {
    /// Reads and checks a locked app JSON file.
    pub fn from_file(path: &Path) -> Result<Self, AppError> {
        Self::from_json(&crate::app_file::read_app_file(path)?, path)
    }

    /// Parses and checks locked app JSON; `origin` names it in errors.
    pub fn from_json(bytes: &[u8], origin: &Path) -> Result<Self, AppError> {
        let mut app: Self =
            serde_json::from_slice(bytes).map_err(|source| AppError::LockedSyntax {
                path: origin.to_path_buf(),
                source,
            })?;
        crate::middleware::attach_to_components(&mut app);
        app.check_understood(origin)?;
        app.check_names(origin)?;
        Ok(app)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a locked app always serializes")
    }

    /// Refuses features the app says the host must support but this runtime does not.
    fn check_understood(&self, origin: &Path) -> Result<(), AppError> {
        for entry in &self.must_understand {
            if !KNOWN_MUST_UNDERSTAND.contains(&entry.as_str()) {
                return Err(AppError::invalid(
                    origin,
                    "must_understand",
                    format!("this runtime does not understand {entry:?}; use a newer runtime"),
                ));
            }
        }
        check_requirements(&self.host_requirements, "host_requirements", origin)?;
        for c in &self.components {
            check_requirements(
                &c.host_requirements,
                &format!("components[{}].host_requirements", c.id),
                origin,
            )?;
        }
        Ok(())
    }

    /// Refuses component ids and file paths that could name anything outside what the
    /// runtime gives them: ids become directory names, file paths places in the mount.
    fn check_names(&self, origin: &Path) -> Result<(), AppError> {
        for c in &self.components {
            if !is_safe_id(&c.id) {
                return Err(AppError::invalid(
                    origin,
                    "components[].id",
                    format!(
                        "{:?} is not a component id (letters, digits, `-` and `_`, at most 128)",
                        c.id.chars().take(100).collect::<String>()
                    ),
                ));
            }
            for file in &c.files {
                if !is_mount_path(&file.path) {
                    return Err(AppError::invalid(
                        origin,
                        format!("components[{}].files[].path", c.id),
                        format!(
                            "{} leaves the component's file mount; use a relative path without `..`",
                            file.path.display()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The application name from `metadata.name`, if any.
    pub fn name(&self) -> Option<&str> {
        self.metadata.get("name").and_then(Value::as_str)
    }

    /// The base path of the HTTP routes (`[application.trigger.http] base`), `/` if unset.
    pub fn http_base(&self) -> &str {
        self.trigger_setting("http", "base").unwrap_or("/")
    }

    /// An application-level trigger setting (`[application.trigger.<type>] <key>`):
    /// `metadata.triggers.<type>.<key>`, or the single `metadata.trigger` of older
    /// locked apps when its `type` matches.
    pub fn trigger_setting(&self, trigger_type: &str, key: &str) -> Option<&str> {
        let current = self
            .metadata
            .get("triggers")
            .and_then(|t| t.get(trigger_type))
            .and_then(|h| h.get(key));
        let single = self
            .metadata
            .get("trigger")
            .filter(|t| t.get("type").and_then(Value::as_str) == Some(trigger_type))
            .and_then(|t| t.get(key));
        current.or(single).and_then(Value::as_str)
    }

    pub fn component(&self, id: &str) -> Option<&LockedComponent> {
        self.components.iter().find(|c| c.id == id)
    }
}

fn check_requirements(
    reqs: &serde_json::Map<String, Value>,
    field: &str,
    origin: &Path,
) -> Result<(), AppError> {
    for (name, value) in reqs {
        let optional = value.as_str() == Some("optional");
        if !optional && !SUPPORTED_HOST_REQUIREMENTS.contains(&name.as_str()) {
            return Err(AppError::invalid(
                origin,
                field,
                format!(
                    "the app requires the host feature {name:?}, which this runtime does not provide"
                ),
            ));
        }
    }
    Ok(())
}

/// Component ids become directory names; Spin's are kebab-case, older apps used `_`.
fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A path inside a component's file mount: relative (a leading `/` is the mount's root,
/// where a local directory source may be placed whole), no `..`.
pub fn is_mount_path(path: &Path) -> bool {
    let rel = path.strip_prefix("/").unwrap_or(path);
    rel.components()
        .all(|c| matches!(c, std::path::Component::Normal(_)))
}

impl LockedComponent {
    /// A string-array metadata entry such as `allowed_outbound_hosts` or `key_value_stores`.
    pub fn metadata_strings(&self, key: &str) -> Vec<String> {
        self.metadata
            .get(key)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<LockedApp, AppError> {
        LockedApp::from_json(json.as_bytes(), Path::new("spin.lock"))
    }

    const MINIMAL: &str = r#"{
        "spin_lock_version": 1,
        "metadata": {"name": "hello"},
        "triggers": [{"id": "t", "trigger_type": "http", "trigger_config": {"route": "/...", "component": "hello"}}],
        "components": [{"id": "hello", "source": {"content_type": "application/wasm", "digest": "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},
                        "files": [{"digest": "sha256:486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7", "path": "static/a.txt"}, {"inline": "aGk=", "path": "b.txt"}],
                        "metadata": {"allowed_outbound_hosts": ["https://example.com"]}}],
        "some_future_field": 1
    }"#;

    #[test]
    fn reads_spin_oci_style_lock_and_ignores_unknown_fields() {
        let app = parse(MINIMAL).unwrap();
        assert_eq!(app.name(), Some("hello"));
        let c = app.component("hello").unwrap();
        assert_eq!(
            c.source.content.digest.as_ref().map(|d| d.to_string()),
            Some(Sha256Digest::of(b"hello").to_string())
        );
        assert_eq!(c.files[1].content.inline.as_deref(), Some(&b"hi"[..]));
        assert_eq!(
            c.metadata_strings("allowed_outbound_hosts"),
            ["https://example.com"]
        );
    }

    #[test]
    fn round_trips() {
        let app = parse(MINIMAL).unwrap();
        let again = LockedApp::from_json(&app.to_json(), Path::new("x")).unwrap();
        assert_eq!(app, again);
    }

    /// Metadata numbers pass through unchanged, even ones with more digits than a
    /// float holds (found by fuzzing: parsing must round correctly).
    #[test]
    fn long_numbers_in_metadata_round_trip() {
        let long = format!("1{}", "6".repeat(128));
        let json = MINIMAL.replace(
            "\"metadata\": {\"name\": \"hello\"}",
            &format!("\"metadata\": {{\"name\": \"hello\", \"n\": {long}}}"),
        );
        let app = parse(&json).unwrap();
        assert!(app.metadata.contains_key("n"));
        let again = LockedApp::from_json(&app.to_json(), Path::new("x")).unwrap();
        assert_eq!(app, again);
    }

    #[test]
    fn version_zero_is_accepted_and_two_refused() {
        let v0 = MINIMAL.replace("\"spin_lock_version\": 1", "\"spin_lock_version\": 0");
        assert!(parse(&v0).is_ok());
        let v2 = MINIMAL.replace("\"spin_lock_version\": 1", "\"spin_lock_version\": 2");
        let err = parse(&v2).unwrap_err().to_string();
        assert!(err.contains("spin_lock_version 2"), "{err}");
    }

    #[test]
    fn unknown_must_understand_is_refused() {
        let j = MINIMAL.replace(
            "\"metadata\": {\"name\"",
            "\"must_understand\": [\"time_travel\"], \"metadata\": {\"name\"",
        );
        let err = parse(&j).unwrap_err().to_string();
        assert!(
            err.contains("must_understand") && err.contains("time_travel"),
            "{err}"
        );
    }

    #[test]
    fn required_host_feature_is_refused_and_optional_accepted() {
        let req = MINIMAL.replace(
            "\"metadata\": {\"name\"",
            "\"host_requirements\": {\"time_travel\": \"required\"}, \"metadata\": {\"name\"",
        );
        let err = parse(&req).unwrap_err().to_string();
        assert!(err.contains("time_travel"), "{err}");
        let opt = req.replace("\"required\"", "\"optional\"");
        assert!(parse(&opt).is_ok());
    }

    #[test]
    fn hostile_digests_ids_and_paths_are_refused() {
        let cases = [
            (
                MINIMAL.replacen(
                    "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
                    "sha256:../../../etc",
                    1,
                ),
                "sha256:<64 lowercase hex",
            ),
            (
                MINIMAL.replacen(
                    "sha256:486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7",
                    "sha256:486EA46224D1BB4FB680F34F7C9AD96A8F24EC88BE73EA8E5A6C65260E9CB8A7",
                    1,
                ),
                "sha256:<64 lowercase hex",
            ),
            (
                MINIMAL.replace("\"id\": \"hello\"", "\"id\": \"../../x\""),
                "components[].id",
            ),
            (
                MINIMAL.replace("static/a.txt", "../../etc/passwd"),
                "leaves the component's file mount",
            ),
            (
                MINIMAL.replace("static/a.txt", "/static/./../../a"),
                "leaves the component's file mount",
            ),
        ];
        for (json, expected) in cases {
            let err = parse(&json).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn malformed_json_names_the_file() {
        let err = parse("{\"spin_lock_version\": 1").unwrap_err().to_string();
        assert!(
            err.starts_with("spin.lock is not a valid Spin locked app"),
            "{err}"
        );
        let err = parse(r#"{"spin_lock_version": 1, "triggers": []}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("components"), "{err}");
    }
}
