//! HTTP middleware: components that import and export `wasi:http/handler@0.3.0` (the
//! `wasi:http/middleware` world), chained in front of the component so each one's
//! import is served by the next one's export. A request enters the outermost.

use spin_app::locked::InheritConfiguration;

use crate::{ComposeError, graph_err, isolation, register};

/// The interface that joins middleware to what it wraps.
pub const MIDDLEWARE_INTERFACE: &str = "wasi:http/handler@0.3.0";

/// `component` behind `middleware` (outermost first, each with what it inherits). The
/// result exports [`MIDDLEWARE_INTERFACE`] (the outermost's), and imports what the
/// component and the middleware import from the host.
pub fn compose_middleware(
    component: Vec<u8>,
    middleware: Vec<(Vec<u8>, &InheritConfiguration)>,
) -> Result<Vec<u8>, ComposeError> {
    if middleware.is_empty() {
        return Ok(component);
    }
    let mut graph = wac_graph::CompositionGraph::new();
    let inner = register(&mut graph, "component", "the component", component)?;
    if !graph.types()[graph[inner].ty()]
        .exports
        .contains_key(MIDDLEWARE_INTERFACE)
    {
        return Err(ComposeError::Invalid {
            what: "the component".into(),
            detail: format!(
                "HTTP middleware wraps components that export {MIDDLEWARE_INTERFACE} \
                 (WASIp3); this one does not"
            ),
        });
    }
    let mut packages = Vec::with_capacity(middleware.len());
    for (index, (wasm, inherit)) in middleware.into_iter().enumerate() {
        let what = format!("middleware {index}");
        let wasm = isolation::isolate(wasm, inherit, &what)?;
        let package = register(&mut graph, &format!("middleware-{index}"), &what, wasm)?;
        let world = &graph.types()[graph[package].ty()];
        for (side, names) in [("import", &world.imports), ("export", &world.exports)] {
            if !names.contains_key(MIDDLEWARE_INTERFACE) {
                return Err(ComposeError::Middleware {
                    index,
                    problem: format!(
                        "does not {side} {MIDDLEWARE_INTERFACE}; middleware is built for the \
                         `wasi:http/middleware@0.3.0` world"
                    ),
                });
            }
        }
        packages.push(package);
    }
    let inner_instance = graph.instantiate(inner);
    let mut handler = graph
        .alias_instance_export(inner_instance, MIDDLEWARE_INTERFACE)
        .map_err(graph_err)?;
    for (index, package) in packages.into_iter().enumerate().rev() {
        let instance = graph.instantiate(package);
        graph
            .set_instantiation_argument(instance, MIDDLEWARE_INTERFACE, handler)
            .map_err(|e| ComposeError::Middleware {
                index,
                problem: format!("cannot wrap what follows it: {e:#}"),
            })?;
        handler = graph
            .alias_instance_export(instance, MIDDLEWARE_INTERFACE)
            .map_err(graph_err)?;
    }
    graph
        .export(handler, MIDDLEWARE_INTERFACE)
        .map_err(graph_err)?;
    graph.encode(Default::default()).map_err(graph_err)
}
