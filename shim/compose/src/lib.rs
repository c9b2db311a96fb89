//! Composition of a Spin component with the components it depends on, as Spin does it
//! when it loads an app:
//!
//! - **Dependencies** (`[component.<id>.dependencies]`): each dependency satisfies the
//!   component's imports its name matches ([`spin_app::dependency_name`]), with the
//!   export of the same name or the one it names; the result exports what the component
//!   exports. [`compose_dependencies`].
//! - **HTTP middleware** (`dependencies.middleware` on a `[[trigger.http]]`): components
//!   that import and export `wasi:http/handler@0.3.0`, chained outermost first in front
//!   of the component. [`compose_middleware`].
//! - **Isolation**: a dependency or middleware gets only the configuration it inherits
//!   ([`spin_app::inherit`]). Its imports of the other governed interfaces are satisfied
//!   by a stand-in component made for it ([`isolation`]), so they never reach the host.
//!
//! Everything here is bytes in, bytes out: the caller reads and verifies the Wasm (and
//! bounds its size); a composition can only contain the components it is given.

mod dependencies;
pub mod isolation;
mod middleware;

pub use dependencies::{Dependency, compose_dependencies};
pub use middleware::{MIDDLEWARE_INTERFACE, compose_middleware};

/// Why a component could not be composed; the message names the dependency and what
/// to change.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("{what} is not a valid component: {detail}")]
    Invalid { what: String, detail: String },
    #[error(
        "dependency {dependency:?} matches no import of the component (its imports: {imports})"
    )]
    UnmatchedDependency { dependency: String, imports: String },
    #[error(
        "import {import:?} is matched by more than one dependency: {dependencies:?}; name the import exactly"
    )]
    Conflict {
        import: String,
        dependencies: Vec<String>,
    },
    #[error(
        "dependency {dependency:?} has no export {export:?} to satisfy import {import:?} (its exports: {exports})"
    )]
    MissingExport {
        dependency: String,
        export: String,
        import: String,
        exports: String,
    },
    #[error(
        "dependency {dependency:?} exports {export:?}, which does not fit import {import:?}: {detail}"
    )]
    Incompatible {
        dependency: String,
        export: String,
        import: String,
        detail: String,
    },
    #[error("cannot isolate {what} from the configuration it does not inherit: {detail}")]
    Isolation { what: String, detail: String },
    #[error("middleware {index} {problem}")]
    Middleware { index: usize, problem: String },
    #[error("cannot compose: {0}")]
    Graph(String),
}

/// A composition graph failure as a message.
fn graph_err(e: impl std::fmt::Display) -> ComposeError {
    ComposeError::Graph(format!("{e:#}"))
}

/// Parses a component into the graph's types, naming it `what` in errors.
fn register(
    graph: &mut wac_graph::CompositionGraph,
    name: &str,
    what: &str,
    wasm: Vec<u8>,
) -> Result<wac_graph::PackageId, ComposeError> {
    let package = wac_graph::types::Package::from_bytes(name, None, wasm, graph.types_mut())
        .map_err(|e| ComposeError::Invalid {
            what: what.to_string(),
            detail: format!("{e:#}"),
        })?;
    graph.register_package(package).map_err(graph_err)
}

/// Exports from the composition everything `instance` (of `package`) exports.
fn export_all(
    graph: &mut wac_graph::CompositionGraph,
    package: wac_graph::PackageId,
    instance: wac_graph::NodeId,
) -> Result<(), ComposeError> {
    let world = graph[package].ty();
    let names: Vec<String> = graph.types()[world].exports.keys().cloned().collect();
    for name in names {
        let export = graph
            .alias_instance_export(instance, &name)
            .map_err(graph_err)?;
        graph.export(export, &name).map_err(graph_err)?;
    }
    Ok(())
}
