//! Core Wasm modules turned into components when they are loaded, as Spin does.
//!
//! Apps built by TinyGo (Spin's Go SDK), by older SDKs, or by any toolchain that stops
//! at a WASI preview 1 module have a core module as their `source`. Such a module
//! carries the world it implements in a `component-type` custom section (written by
//! `wit-bindgen` 0.5 and later: imports like `fermyon:spin/key-value@2.0.0`, exports
//! like `fermyon:spin/inbound-http`), and imports `wasi_snapshot_preview1` for files,
//! clocks and stdio. It is encoded as a component with the WASI preview 1 adapter from
//! Wasmtime (the `wasi-preview1-component-adapter-provider` crate), which implements
//! preview 1 on top of WASI 0.2: the reactor adapter for a module that is called
//! through its exports, the command adapter for one that exports `_start` (a WASI
//! command, run by the command trigger).
//!
//! Modules from Spin 1 SDKs (the `wit-bindgen` 0.2 ABI: exports such as
//! `handle-http-request` without a `component-type` section) need Spin's own adapter,
//! which is not published; they are refused with an error that says to rebuild them.
//!
//! The module is someone else's: the encoder only reads it (it has already been read
//! within the component size bound), validates the component it produces, and fails
//! with an error instead of anything else.

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmparser::{Parser, Payload};

/// Changes whenever the conversion changes (adapter or encoder), so compiled
/// components cached from an older conversion are not reused.
pub const CONVERSION_VERSION: &str = "wasi-preview1-adapter-48.0.8";

/// Why a core module could not be turned into a component.
#[derive(Debug, thiserror::Error)]
pub enum CoreModuleError {
    /// A Spin 1 module: its ABI predates the component model.
    #[error(
        "its source is a core Wasm module built for Spin 1 (it exports `{export}` and \
         carries no component-type section); rebuild it with a Spin 2 or later SDK"
    )]
    Spin1Module { export: String },
    /// The encoder refused it.
    #[error("its source is a core Wasm module that cannot be made a component: {detail}")]
    NotEncodable { detail: String },
}

/// The component for `bytes`: `None` when they are not a core module (a component,
/// or not Wasm at all: the compiler reports those).
pub fn componentize(bytes: &[u8]) -> Result<Option<Vec<u8>>, CoreModuleError> {
    if !Parser::is_core_wasm(bytes) {
        return Ok(None);
    }
    let shape = Shape::of(bytes)?;
    if let (false, Some(export)) = (shape.has_component_type, shape.spin1_export) {
        return Err(CoreModuleError::Spin1Module { export });
    }
    let adapter = if shape.exports_start {
        WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER
    } else {
        WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER
    };
    let mut encoder = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(bytes)
        .map_err(not_encodable)?;
    if shape.imports_preview1 {
        encoder = encoder
            .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, adapter)
            .map_err(not_encodable)?;
    }
    encoder.encode().map(Some).map_err(not_encodable)
}

/// The encoder's error (an `anyhow` chain), with its causes.
fn not_encodable(e: impl std::fmt::Display) -> CoreModuleError {
    CoreModuleError::NotEncodable {
        detail: format!("{e:#}"),
    }
}

/// What the conversion needs to know of a core module.
#[derive(Default)]
struct Shape {
    has_component_type: bool,
    imports_preview1: bool,
    exports_start: bool,
    /// An export only Spin 1 modules have.
    spin1_export: Option<String>,
}

/// Exports of Spin 1 modules (`wit-bindgen` 0.2's names for the Spin 1 triggers).
const SPIN1_EXPORTS: &[&str] = &["handle-http-request", "handle-redis-message"];

impl Shape {
    fn of(bytes: &[u8]) -> Result<Self, CoreModuleError> {
        let malformed = |e: wasmparser::BinaryReaderError| CoreModuleError::NotEncodable {
            detail: e.to_string(),
        };
        let mut shape = Shape::default();
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.map_err(malformed)? {
                Payload::CustomSection(section) if section.name().starts_with("component-type") => {
                    shape.has_component_type = true;
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        if import.map_err(malformed)?.module == WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME
                        {
                            shape.imports_preview1 = true;
                        }
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let name = export.map_err(malformed)?.name;
                        if name == "_start" {
                            shape.exports_start = true;
                        } else if SPIN1_EXPORTS.contains(&name) {
                            shape.spin1_export = Some(name.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::component::Component;
    use wasmtime::{Config, Engine};

    fn exports(component: &[u8]) -> Vec<String> {
        let engine = Engine::new(Config::new().wasm_component_model(true)).unwrap();
        let component = Component::new(&engine, component).unwrap();
        component
            .component_type()
            .exports(&engine)
            .map(|(name, _)| name.to_string())
            .collect()
    }

    #[test]
    fn a_wasi_command_module_becomes_a_wasi_cli_run_component() {
        let module = wat::parse_str(
            r#"(module
                 (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
                 (memory (export "memory") 1)
                 (func (export "_start")))"#,
        )
        .unwrap();
        let component = componentize(&module).unwrap().expect("a core module");
        let exports = exports(&component);
        assert!(
            exports.iter().any(|e| e.starts_with("wasi:cli/run@0.2.")),
            "{exports:?}"
        );
    }

    #[test]
    fn components_and_non_wasm_are_left_to_the_compiler() {
        let component = wat::parse_str("(component)").unwrap();
        assert!(componentize(&component).unwrap().is_none());
        assert!(componentize(b"not wasm").unwrap().is_none());
    }

    #[test]
    fn spin1_modules_are_refused_by_name() {
        let module = wat::parse_str(
            r#"(module (func (export "handle-redis-message") (param i32 i32) (result i32) i32.const 0))"#,
        )
        .unwrap();
        let err = componentize(&module).unwrap_err();
        assert!(
            err.to_string().contains("exports `handle-redis-message`"),
            "{err}"
        );
    }

    #[test]
    fn a_malformed_module_is_an_error_not_a_panic() {
        let mut module = wat::parse_str(r#"(module (func (export "f")))"#).unwrap();
        module.truncate(module.len() - 3);
        assert!(componentize(&module).is_err());
    }
}
