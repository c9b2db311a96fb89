//! A component's Wasm as it runs: its own, or composed with its dependencies and HTTP
//! middleware (`spin-compose`) when the app gives them.
//!
//! Every piece is resolved through the app's [`ContentResolver`] (so a composition can
//! only contain what the app carries) and read within one budget of
//! [`MAX_COMPONENT_BYTES`] for all of them. A composed component's compiled code is
//! named by the digest of its recipe: the digest of each piece, how it is joined and
//! what it inherits, and [`COMPOSITION_VERSION`].

use spin_app::Sha256Digest;
use spin_app::locked::{ContentRef, InheritConfiguration, LockedComponent};

use crate::RuntimeError;
use crate::content::{Blob, ContentError, ContentResolver, read_verified};

/// Largest component Wasm accepted (componentize-py apps are about 40 MB); for a
/// composed component, the most all of its pieces may add up to.
pub const MAX_COMPONENT_BYTES: u64 = 512 << 20;

/// Part of a composed component's digest: raised when composing the same pieces
/// would give different code.
const COMPOSITION_VERSION: u32 = 1;

/// One piece of Wasm: already read (to hash it), or still to be read.
pub(crate) enum Wasm {
    Read(Vec<u8>),
    /// A file of the node's blob cache, verified when it was stored.
    Unread {
        blob: Blob,
        expected: Sha256Digest,
    },
}

/// What a component runs: its own Wasm, or pieces still to be composed.
pub(crate) enum ComponentWasm {
    Plain(Wasm),
    Composed(Box<Composition>),
}

pub(crate) struct Composition {
    /// What the pieces not yet read may add up to.
    unread_budget: u64,
    component: Wasm,
    dependencies: Vec<(String, Wasm, Option<String>, InheritConfiguration)>,
    middleware: Vec<(Wasm, InheritConfiguration)>,
}

/// The digest naming `component`'s code, and its Wasm. The resolver decides first
/// whether the app may name each piece at all.
pub(crate) fn component_wasm(
    content: &dyn ContentResolver,
    component: &LockedComponent,
) -> Result<(Sha256Digest, ComponentWasm), RuntimeError> {
    let id = &component.id;
    let source_err = |problem: String| RuntimeError::Source {
        component: id.clone(),
        problem,
    };
    let mut budget = MAX_COMPONENT_BYTES;
    let (digest, own) =
        piece(content, &component.source.content, &mut budget).map_err(source_err)?;
    if component.dependencies.is_empty() && component.trigger_dependencies.is_empty() {
        return Ok((digest, ComponentWasm::Plain(own)));
    }
    let mut recipe = format!("spin-kube composition {COMPOSITION_VERSION}\ncomponent {digest}\n");
    let mut dependencies = Vec::new();
    for (name, dependency) in &component.dependencies {
        let (digest, wasm) = piece(content, &dependency.source.content, &mut budget)
            .map_err(|e| source_err(format!("dependency {name:?}: {e}")))?;
        recipe += &format!(
            "dependency {name:?} {digest} export={:?} inherit={}\n",
            dependency.export,
            inherit_text(&dependency.inherit)
        );
        dependencies.push((
            name.clone(),
            wasm,
            dependency.export.clone(),
            dependency.inherit.clone(),
        ));
    }
    let mut middleware = Vec::new();
    for (role, list) in &component.trigger_dependencies {
        if role != spin_app::middleware::MIDDLEWARE_REQUIREMENT {
            return Err(source_err(format!(
                "its trigger dependencies include {role:?}; the only trigger dependencies \
                 are HTTP middleware"
            )));
        }
        for (index, dependency) in list.iter().enumerate() {
            let (digest, wasm) = piece(content, &dependency.source.content, &mut budget)
                .map_err(|e| source_err(format!("middleware {index}: {e}")))?;
            recipe += &format!(
                "middleware {digest} inherit={}\n",
                inherit_text(&dependency.inherit)
            );
            middleware.push((wasm, dependency.inherit.clone()));
        }
    }
    Ok((
        Sha256Digest::of(recipe.as_bytes()),
        ComponentWasm::Composed(Box::new(Composition {
            unread_budget: budget,
            component: own,
            dependencies,
            middleware,
        })),
    ))
}

fn inherit_text(inherit: &InheritConfiguration) -> String {
    match inherit {
        InheritConfiguration::All => "all".into(),
        InheritConfiguration::Some(names) => names.join(","),
    }
}

/// The digest of one piece of content, and the piece. A file of the node's blob cache
/// was verified when it was stored and is read later; anything else (inline bytes, a
/// file of a local app or a container's root) is hashed now, and a `digest` the app
/// gives beside it must agree. Otherwise an app could name another app's digest and
/// run that app's code. Bytes read now are taken from `budget`.
fn piece(
    content: &dyn ContentResolver,
    source: &ContentRef,
    budget: &mut u64,
) -> Result<(Sha256Digest, Wasm), String> {
    let blob = content.resolve(source).map_err(|e| e.to_string())?;
    match (source.digest.clone(), blob) {
        (Some(digest), blob @ Blob::File { .. }) if content.files_match_their_digests() => Ok((
            digest.clone(),
            Wasm::Unread {
                blob,
                expected: digest,
            },
        )),
        (expected, blob) => {
            let bytes = read_verified(blob, None, *budget).map_err(over_budget)?;
            *budget -= bytes.len() as u64;
            let actual = Sha256Digest::of(&bytes);
            if let Some(expected) = expected.filter(|e| *e != actual) {
                return Err(format!(
                    "its Wasm has digest {actual}, but the app says {expected}"
                ));
            }
            Ok((actual, Wasm::Read(bytes)))
        }
    }
}

/// A read of a piece failed; past the budget, the message says what it bounds.
fn over_budget(problem: ContentError) -> String {
    match problem {
        ContentError::TooLarge { .. } => format!(
            "{problem} (a component's Wasm and its dependencies' may add up to {} MiB)",
            MAX_COMPONENT_BYTES >> 20
        ),
        other => other.to_string(),
    }
}

impl Wasm {
    /// The bytes; a piece still unread is read within `budget` (and taken from it).
    fn read(self, budget: &mut u64) -> Result<Vec<u8>, String> {
        match self {
            Self::Read(bytes) => Ok(bytes),
            Self::Unread { blob, expected } => {
                let bytes = read_verified(blob, Some(&expected), *budget).map_err(over_budget)?;
                *budget -= bytes.len() as u64;
                Ok(bytes)
            }
        }
    }
}

impl ComponentWasm {
    /// The bytes to compile: the component's own, or the composition of its pieces
    /// (each core module made a component first).
    pub(crate) fn into_bytes(self, id: &str) -> Result<Vec<u8>, RuntimeError> {
        let source_err = |problem: String| RuntimeError::Source {
            component: id.to_string(),
            problem,
        };
        let composition = match self {
            Self::Plain(wasm) => {
                return wasm
                    .read(&mut MAX_COMPONENT_BYTES.clone())
                    .map_err(source_err);
            }
            Self::Composed(composition) => *composition,
        };
        let mut budget = composition.unread_budget;
        let as_component = |wasm: Wasm, budget: &mut u64| -> Result<Vec<u8>, RuntimeError> {
            let bytes = wasm.read(budget).map_err(source_err)?;
            match crate::code::core_module::componentize(&bytes) {
                Ok(Some(component)) => Ok(component),
                Ok(None) => Ok(bytes),
                Err(source) => Err(RuntimeError::CoreModule {
                    component: id.to_string(),
                    source,
                }),
            }
        };
        let compose_err = |source| RuntimeError::Compose {
            component: id.to_string(),
            source: Box::new(source),
        };
        let mut component = as_component(composition.component, &mut budget)?;
        let mut dependencies = Vec::with_capacity(composition.dependencies.len());
        for (name, wasm, export, inherit) in composition.dependencies {
            dependencies.push((name, as_component(wasm, &mut budget)?, export, inherit));
        }
        if !dependencies.is_empty() {
            let dependencies = dependencies
                .iter()
                .map(|(name, wasm, export, inherit)| spin_compose::Dependency {
                    name,
                    wasm: wasm.clone(),
                    export: export.as_deref(),
                    inherit,
                })
                .collect();
            component =
                spin_compose::compose_dependencies(component, dependencies).map_err(compose_err)?;
        }
        if !composition.middleware.is_empty() {
            let mut middleware = Vec::with_capacity(composition.middleware.len());
            for (wasm, inherit) in composition.middleware {
                middleware.push((as_component(wasm, &mut budget)?, inherit));
            }
            // A Spin 4.0 app exports the handler at its release candidate; middleware
            // joins at the release.
            if let Ok(Some(wrapped)) = crate::code::prerelease::wrap(&component) {
                component = wrapped;
            }
            let middleware = middleware
                .iter()
                .map(|(wasm, inherit)| (wasm.clone(), inherit))
                .collect();
            component =
                spin_compose::compose_middleware(component, middleware).map_err(compose_err)?;
        }
        Ok(component)
    }
}
