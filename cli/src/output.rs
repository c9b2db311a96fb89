//! `-o yaml|json`: objects as the API server holds them, without `managedFields` (as
//! kubectl prints them by default).

use serde::Serialize;

/// A machine-readable output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

/// `value` in `format`, ending with a newline.
pub fn render(value: &impl Serialize, format: Format) -> String {
    let mut value = serde_json::to_value(value).expect("Kubernetes objects serialize");
    strip_managed_fields(&mut value);
    match format {
        Format::Yaml => serde_yaml::to_string(&value).expect("JSON values serialize as YAML"),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&value).expect("JSON values serialize");
            text.push('\n');
            text
        }
    }
}

fn strip_managed_fields(value: &mut serde_json::Value) {
    if let Some(metadata) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        metadata.remove("managedFields");
    }
    if let Some(items) = value.get_mut("items").and_then(|i| i.as_array_mut()) {
        items.iter_mut().for_each(strip_managed_fields);
    }
}
