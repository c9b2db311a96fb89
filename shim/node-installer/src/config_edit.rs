//! Adds the `spin` runtime to a containerd config, edited in place with `toml_edit`:
//! comments, order and formatting of everything else stay as they were.
//!
//! Where the runtime goes depends on the config's schema (`version` key):
//! - `version = 3` (containerd 2.x): `plugins."io.containerd.cri.v1.runtime".containerd.runtimes.spin`
//! - `version = 2` (containerd 1.5+): `plugins."io.containerd.grpc.v1.cri".containerd.runtimes.spin`
//! - no `version` (containerd's version 1): `plugins.cri.containerd.runtimes.spin`
//!
//! The runtime keeps its type name `io.containerd.spin.v2` and names the shim binary
//! with `runtime_path`, so the binary needs not be on containerd's `PATH`.
//!
//! k3s/rke2 templates (`config.toml.tmpl`) are Go templates: lines that start with
//! `{{` are set aside as comments while the rest is edited as TOML, then put back.

use toml_edit::{DocumentMut, Item, Table, value};

/// The CRI runtime handler name; a RuntimeClass's `handler` names it.
pub const RUNTIME_HANDLER: &str = "spin";
/// The runtime type (a wire contract with SpinKube's shim).
pub const RUNTIME_TYPE: &str = "io.containerd.spin.v2";

/// Which layout of containerd's config a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    V1,
    V2,
    V3,
}

impl Schema {
    pub fn from_version(version: i64) -> Option<Self> {
        match version {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            3 => Some(Self::V3),
            _ => None,
        }
    }

    /// The keys of the table that holds the CRI runtimes.
    fn runtimes_table(self) -> [&'static str; 4] {
        let cri = match self {
            Self::V1 => "cri",
            Self::V2 => "io.containerd.grpc.v1.cri",
            Self::V3 => "io.containerd.cri.v1.runtime",
        };
        ["plugins", cri, "containerd", "runtimes"]
    }

    /// Reads the schema of a config's text (`None` when it has no `version` key or is
    /// not TOML; k3s uses this on its generated `config.toml`).
    pub fn of_config(text: &str) -> Option<Self> {
        let doc: DocumentMut = text.parse().ok()?;
        doc.get("version")
            .and_then(Item::as_integer)
            .and_then(Self::from_version)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{file} is not valid TOML, so it was left untouched (fix it, then run the installer again): {message}"
    )]
    Malformed { file: String, message: String },
    #[error(
        "{file} says `version = {version}`; this installer knows containerd config versions 1, 2 and 3, so it was left untouched"
    )]
    UnknownVersion { file: String, version: String },
    #[error(
        "{file}: `{key}` is {found}, not a table, so the `spin` runtime cannot be added; the file was left untouched"
    )]
    NotATable {
        file: String,
        key: String,
        found: &'static str,
    },
}

/// What to write and how to read the file.
#[derive(Debug, Clone)]
pub struct EditRequest<'a> {
    /// The file's name, for messages.
    pub file: &'a str,
    /// `runtime_path`: where the shim binary is on the host.
    pub shim_path: &'a str,
    /// A k3s/rke2 Go template (its `{{ ... }}` lines are kept as they are).
    pub template: bool,
    /// The schema to use when the text has no `version` (a k3s template takes it from
    /// the `config.toml` k3s generated).
    pub schema_hint: Option<Schema>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub text: String,
    pub changed: bool,
    pub schema: Schema,
}

const TEMPLATE_MARK: &str = "#spin-node-installer:template:";

/// Returns the config with the `spin` runtime in it; `changed` is false when it was
/// already there with the same values (the text is then returned as it was).
pub fn add_spin_runtime(text: &str, req: &EditRequest<'_>) -> Result<Edited, ConfigError> {
    let masked = if req.template {
        mask_template_lines(text)
    } else {
        text.to_string()
    };
    let mut doc: DocumentMut =
        masked
            .parse()
            .map_err(|e: toml_edit::TomlError| ConfigError::Malformed {
                file: req.file.to_string(),
                message: e.to_string().trim_end().to_string(),
            })?;
    let schema = match doc.get("version") {
        Some(v) => {
            let known = v.as_integer().and_then(Schema::from_version);
            known.ok_or_else(|| ConfigError::UnknownVersion {
                file: req.file.to_string(),
                version: v.to_string().trim().to_string(),
            })?
        }
        None if req.template => req.schema_hint.unwrap_or(Schema::V2),
        // An empty file means containerd's defaults: say version 2, which containerd
        // 1.5+ reads as such and 2.x migrates on load.
        None if doc.as_table().is_empty() => {
            doc.insert("version", value(2));
            Schema::V2
        }
        None => Schema::V1,
    };

    let mut table: &mut dyn toml_edit::TableLike = doc.as_table_mut();
    let mut key_path = String::new();
    let mut created = false;
    // Whether every table on the way is a `[header]` table (or not there yet), so a
    // new `[...spin]` header can simply be appended.
    let mut plain_headers = true;
    for key in schema.runtimes_table().into_iter().chain([RUNTIME_HANDLER]) {
        if !key_path.is_empty() {
            key_path.push('.');
        }
        key_path.push_str(&display_key(key));
        let is_runtime = key == RUNTIME_HANDLER;
        if is_runtime && !table.contains_key(key) {
            created = true;
        }
        let item = table.entry(key).or_insert_with(|| {
            let mut t = Table::new();
            if is_runtime {
                t.decor_mut().set_prefix(format!("\n{ADDED_COMMENT}"));
            } else {
                t.set_implicit(true);
            }
            Item::Table(t)
        });
        plain_headers &= item.as_table().is_some_and(|t| !t.is_dotted());
        let found = item.type_name();
        table = item
            .as_table_like_mut()
            .ok_or_else(|| ConfigError::NotATable {
                file: req.file.to_string(),
                key: key_path.clone(),
                found: article(found),
            })?;
    }
    set_if_different(table, "runtime_type", RUNTIME_TYPE);
    set_if_different(table, "runtime_path", req.shim_path);

    let out = if req.template && created && plain_headers {
        // Appended after everything, so it stays outside any `{{ if }}...{{ end }}`
        // and after `{{ template "base" . }}`.
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!(
            "\n{ADDED_COMMENT}[{key_path}]\nruntime_type = {}\nruntime_path = {}\n",
            value(RUNTIME_TYPE),
            value(req.shim_path)
        ));
        out
    } else if req.template {
        unmask_template_lines(&doc.to_string())
    } else {
        doc.to_string()
    };
    Ok(Edited {
        changed: out != text,
        text: out,
        schema,
    })
}

const ADDED_COMMENT: &str =
    "# The Spin runtime (RuntimeClass handler `spin`), added by spin-node-installer.\n";

/// Sets a string value, keeping the key's indentation and a trailing comment.
fn set_if_different(table: &mut dyn toml_edit::TableLike, key: &str, wanted: &str) {
    match table.get_mut(key) {
        Some(Item::Value(current)) if current.as_str() == Some(wanted) => {}
        Some(Item::Value(current)) => {
            let decor = current.decor().clone();
            *current = toml_edit::Value::from(wanted);
            *current.decor_mut() = decor;
        }
        _ => {
            table.insert(key, value(wanted));
        }
    }
}

fn display_key(key: &str) -> String {
    if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_string()
    } else {
        format!("\"{key}\"")
    }
}

fn article(type_name: &str) -> &'static str {
    match type_name {
        "string" => "a string",
        "integer" => "an integer",
        "float" => "a float",
        "boolean" => "a boolean",
        "datetime" => "a date",
        "array" => "an array",
        "array of tables" => "an array of tables",
        _ => "not a table",
    }
}

fn mask_template_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            if line.trim_start().starts_with("{{") {
                format!("{TEMPLATE_MARK}{line}")
            } else {
                line.to_string()
            }
        })
        .collect()
}

fn unmask_template_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| line.strip_prefix(TEMPLATE_MARK).unwrap_or(line))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(template: bool) -> EditRequest<'static> {
        EditRequest {
            file: "config.toml",
            shim_path: "/opt/spin/bin/containerd-shim-spin-v2",
            template,
            schema_hint: None,
        }
    }

    #[test]
    fn empty_file_becomes_a_version_2_config_with_the_runtime() {
        let out = add_spin_runtime("", &req(false)).unwrap();
        assert_eq!(out.schema, Schema::V2);
        assert!(out.changed);
        assert!(out.text.starts_with("version = 2\n"), "{}", out.text);
        assert!(out.text.contains(
            "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.spin]\nruntime_type = \"io.containerd.spin.v2\"\nruntime_path = \"/opt/spin/bin/containerd-shim-spin-v2\"\n"
        ), "{}", out.text);
        // Implicit parents are not written as empty tables.
        assert!(!out.text.contains("[plugins]"), "{}", out.text);
    }

    #[test]
    fn a_second_edit_changes_nothing() {
        let once = add_spin_runtime("version = 3\n", &req(false)).unwrap();
        let twice = add_spin_runtime(&once.text, &req(false)).unwrap();
        assert!(!twice.changed);
        assert_eq!(twice.text, once.text);
    }

    #[test]
    fn an_existing_spin_runtime_is_pointed_at_our_shim_keeping_its_other_keys() {
        let text = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.spin]\n  runtime_type = \"/opt/kwasm/bin/containerd-shim-spin-v2\"\n  pod_annotations = [\"a\"] # kept\n";
        let out = add_spin_runtime(text, &req(false)).unwrap();
        assert!(out.changed);
        assert!(
            out.text.contains("pod_annotations = [\"a\"] # kept"),
            "{}",
            out.text
        );
        assert!(
            out.text
                .contains("runtime_type = \"io.containerd.spin.v2\""),
            "{}",
            out.text
        );
        assert!(!out.text.contains("kwasm"), "{}", out.text);
    }

    #[test]
    fn inline_tables_on_the_way_are_followed() {
        let text = "version = 2\nplugins.\"io.containerd.grpc.v1.cri\".containerd = { default_runtime_name = \"runc\" }\n";
        let out = add_spin_runtime(text, &req(false)).unwrap();
        let doc: DocumentMut = out.text.parse().unwrap();
        assert_eq!(
            doc["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["spin"]
                ["runtime_type"]
                .as_str(),
            Some(RUNTIME_TYPE),
            "{}",
            out.text
        );
        assert_eq!(
            doc["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["default_runtime_name"]
                .as_str(),
            Some("runc")
        );
    }

    #[test]
    fn a_key_in_the_way_that_is_not_a_table_is_named() {
        let text = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\ncontainerd = \"oops\"\n";
        let err = add_spin_runtime(text, &req(false)).unwrap_err().to_string();
        assert!(
            err.contains("`plugins.\"io.containerd.grpc.v1.cri\".containerd` is a string"),
            "{err}"
        );
        assert!(err.contains("left untouched"), "{err}");
    }

    #[test]
    fn unknown_versions_are_refused() {
        let err = add_spin_runtime("version = 4\n", &req(false))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`version = 4`"), "{err}");
    }

    #[test]
    fn template_lines_are_kept_and_the_schema_comes_from_the_hint() {
        let text = "{{ template \"base\" . }}\n";
        let out = add_spin_runtime(
            text,
            &EditRequest {
                schema_hint: Some(Schema::V3),
                ..req(true)
            },
        )
        .unwrap();
        assert!(
            out.text.starts_with("{{ template \"base\" . }}\n"),
            "{}",
            out.text
        );
        assert!(
            out.text
                .contains("[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.spin]"),
            "{}",
            out.text
        );
        assert!(!out.text.contains("version"), "{}", out.text);
    }

    #[test]
    fn schema_of_config() {
        assert_eq!(Schema::of_config("version = 3\n"), Some(Schema::V3));
        assert_eq!(Schema::of_config("root = \"/x\"\n"), None);
        assert_eq!(Schema::of_config("not toml ["), None);
    }
}
