//! A component composed with its dependencies.

use std::collections::BTreeMap;

use spin_app::dependency_name::DependencyName;
use spin_app::locked::InheritConfiguration;

use crate::{ComposeError, export_all, graph_err, isolation, register};

/// One dependency: its name in the manifest, its Wasm (a component), the export that
/// satisfies the matching imports (default: the export of the import's name), and what
/// it inherits.
pub struct Dependency<'a> {
    pub name: &'a str,
    pub wasm: Vec<u8>,
    pub export: Option<&'a str>,
    pub inherit: &'a InheritConfiguration,
}

/// `component` with each import a dependency's name matches satisfied by that
/// dependency (isolated from what it does not inherit). Imports no dependency matches
/// stay imports of the result, for the host; the result exports what `component` does.
pub fn compose_dependencies(
    component: Vec<u8>,
    dependencies: Vec<Dependency<'_>>,
) -> Result<Vec<u8>, ComposeError> {
    if dependencies.is_empty() {
        return Ok(component);
    }
    let mut graph = wac_graph::CompositionGraph::new();
    let root = register(&mut graph, "component", "the component", component)?;
    let root_instance = graph.instantiate(root);
    let imports: Vec<String> = graph.types()[graph[root].ty()]
        .imports
        .keys()
        .cloned()
        .collect();

    let mut matched: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, dependency) in dependencies.iter().enumerate() {
        let name =
            DependencyName::parse(dependency.name).map_err(|detail| ComposeError::Invalid {
                what: format!("dependency name {:?}", dependency.name),
                detail,
            })?;
        let mut any = false;
        for import in imports.iter().filter(|import| name.matches_import(import)) {
            matched.entry(import).or_default().push(index);
            any = true;
        }
        if !any {
            return Err(ComposeError::UnmatchedDependency {
                dependency: dependency.name.to_string(),
                imports: imports.join(", "),
            });
        }
    }
    if let Some((import, indexes)) = matched.iter().find(|(_, indexes)| indexes.len() > 1) {
        return Err(ComposeError::Conflict {
            import: import.to_string(),
            dependencies: indexes
                .iter()
                .map(|&i| dependencies[i].name.to_string())
                .collect(),
        });
    }

    let mut instances = Vec::with_capacity(dependencies.len());
    for (index, dependency) in dependencies.iter().enumerate() {
        let what = format!("dependency {:?}", dependency.name);
        let wasm = isolation::isolate(dependency.wasm.clone(), dependency.inherit, &what)?;
        let package = register(&mut graph, &format!("dependency-{index}"), &what, wasm)?;
        instances.push((package, graph.instantiate(package)));
    }
    for (import, indexes) in &matched {
        let dependency = &dependencies[indexes[0]];
        let (package, instance) = instances[indexes[0]];
        let export = dependency.export.unwrap_or(import);
        let exports = &graph.types()[graph[package].ty()].exports;
        if !exports.contains_key(export) {
            return Err(ComposeError::MissingExport {
                dependency: dependency.name.to_string(),
                export: export.to_string(),
                import: import.to_string(),
                exports: exports.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        }
        let node = graph
            .alias_instance_export(instance, export)
            .map_err(graph_err)?;
        graph
            .set_instantiation_argument(root_instance, import, node)
            .map_err(|e| ComposeError::Incompatible {
                dependency: dependency.name.to_string(),
                export: export.to_string(),
                import: import.to_string(),
                detail: format!("{e:#}"),
            })?;
    }
    export_all(&mut graph, root, root_instance)?;
    graph.encode(Default::default()).map_err(graph_err)
}
