//! An app's compiled code, and which compiler produces it.
//!
//! Optimized code (Cranelift) is what serves, from the node's compile cache when it is
//! there. A component this node has never compiled is first compiled with Winch, a
//! baseline compiler that takes about a fifth of the time (a 37 MB componentize-py app:
//! 1.1 s instead of 5 s on 2 cores), so the first request does not wait for Cranelift;
//! Cranelift then compiles in the background, fills the cache and replaces the baseline
//! code for the requests that follow (those in flight finish on the code they started
//! with). A component Winch cannot compile is compiled with Cranelift before serving.

pub(crate) mod cache;
pub mod child;
pub(crate) mod composition;
pub(crate) mod core_module;
pub(crate) mod prerelease;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use spin_app::Sha256Digest;
use spin_app::locked::LockedComponent;
use wasmtime::component::{Component, Linker};

use crate::RuntimeError;
use crate::code::cache::CompileCache;
use crate::config::RuntimeConfig;
use crate::content::ContentResolver;
use crate::engine::{CodeTier, PoolLimits, SharedEngine};
use crate::host::state::{ComponentHost, RequestState};
use crate::trigger::entry_point::CompiledComponent;
use crate::trigger::trigger_type::{AppTrigger, Handlers, Trigger};
use child::ChildFailure;

/// Every served component compiled for one engine.
pub struct AppCode {
    pub engine: Arc<SharedEngine>,
    pub components: HashMap<String, PreparedComponent>,
}

/// A component ready to serve requests.
pub struct PreparedComponent {
    pub host: Arc<ComponentHost>,
    /// Its entry points, one per trigger type that runs it.
    pub(crate) handlers: Handlers,
}

impl PreparedComponent {
    /// Trigger `T`'s entry point into it, when `T` runs it.
    pub fn handler<T: Trigger>(&self) -> Option<&T::Handler> {
        self.handlers.get::<T>()
    }
}

/// The code requests run now; replaced whole when optimized code is ready.
pub(crate) type LiveCode = Arc<RwLock<Arc<AppCode>>>;

/// What compiling an app needs, owned, so the background compile can outlive
/// `PreparedApp::prepare`.
pub(crate) struct CodeSources {
    pub components: Vec<ServedComponent>,
    pub content: Arc<dyn ContentResolver>,
    pub config: RuntimeConfig,
}

/// A component some trigger runs.
pub(crate) struct ServedComponent {
    pub locked: LockedComponent,
    /// The triggers that run it: each finds its entry point in the compiled component.
    pub triggers: Vec<Arc<dyn AppTrigger>>,
    pub host: Arc<ComponentHost>,
}

/// What a compile pass does with a component the cache does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    Compile,
    Leave,
}

/// The app's code: optimized from the cache, or baseline now and optimized later.
pub(crate) fn build(sources: CodeSources) -> Result<LiveCode, RuntimeError> {
    let _compiling = crate::heap::Compiling::start();
    let limits = PoolLimits {
        instances: sources.config.max_concurrent_instances,
        max_memory: sources.config.max_instance_memory,
    };
    let optimized = Arc::new(SharedEngine::new(limits, CodeTier::Optimized)?);
    if let Some(code) = compile_app(&optimized, &sources, Missing::Leave)? {
        return serving(Some(code));
    }
    let baseline = Arc::new(SharedEngine::new(limits, CodeTier::Baseline)?);
    let code = match compile_app(&baseline, &sources, Missing::Compile) {
        Ok(code) => code,
        Err(RuntimeError::Compile { component, detail }) => {
            tracing::info!(%component, "Winch cannot compile it ({detail}); compiling with Cranelift before serving");
            drop(baseline);
            return serving(compile_app(&optimized, &sources, Missing::Compile)?);
        }
        Err(e) => return Err(e),
    };
    let live = serving(code)?;
    let weak = Arc::downgrade(&live);
    std::thread::Builder::new()
        .name("optimize".into())
        .spawn(move || optimize(weak, &optimized, &sources))
        .map_err(|e| RuntimeError::Engine(format!("cannot start the optimizing compile: {e}")))?;
    Ok(live)
}

/// A pass told to compile what is missing always yields code.
fn serving(code: Option<AppCode>) -> Result<LiveCode, RuntimeError> {
    let code = code.ok_or_else(|| RuntimeError::Engine("a compile pass yielded no code".into()))?;
    Ok(Arc::new(RwLock::new(Arc::new(code))))
}

/// Compiles the app with Cranelift and puts that code in place of the baseline code,
/// unless the app stopped meanwhile.
fn optimize(live: Weak<RwLock<Arc<AppCode>>>, engine: &Arc<SharedEngine>, sources: &CodeSources) {
    // Until the baseline code is gone too.
    let _compiling = crate::heap::Compiling::start();
    let started = Instant::now();
    if live.strong_count() == 0 {
        return;
    }
    match compile_app(engine, sources, Missing::Compile) {
        Ok(Some(code)) => {
            let Some(live) = live.upgrade() else { return };
            let replaced = std::mem::replace(
                &mut *live.write().unwrap_or_else(|p| p.into_inner()),
                Arc::new(code),
            );
            drop(live);
            let baseline = Arc::downgrade(&replaced);
            drop(replaced);
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "optimized code now serves"
            );
            // Requests in flight finish on the baseline code; once the last one has,
            // its engine, instance pool and compile heap go back to the system.
            let deadline = Instant::now() + BASELINE_DRAIN;
            while baseline.strong_count() > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            crate::heap::release_freed_memory();
        }
        Ok(None) => {}
        // The baseline code keeps serving; the next start compiles again.
        Err(e) => tracing::warn!("optimizing compile failed; the baseline code keeps serving: {e}"),
    }
}

/// How long the optimizing thread waits for requests on the baseline code to finish
/// before returning the freed heap anyway (the longest request timeout is the user's).
const BASELINE_DRAIN: Duration = Duration::from_secs(60);

/// Compiles (or loads) every component for `engine`; `None` when one is not cached
/// and `missing` says to leave it.
fn compile_app(
    engine: &Arc<SharedEngine>,
    sources: &CodeSources,
    missing: Missing,
) -> Result<Option<AppCode>, RuntimeError> {
    let linker = base_linker(engine.engine())?;
    let cache = sources.config.compile_cache_dir.clone().map(|dir| {
        CompileCache::new(dir, engine.engine(), engine.tier)
            .bounded(sources.config.compile_cache_max_bytes)
    });
    if cache.is_none() && missing == Missing::Leave {
        return Ok(None);
    }
    // Components compile on at most one thread per core (Wasmtime also parallelises
    // inside each one), whatever number of components the app lists; components that
    // share one Wasm compile it once.
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(sources.components.len().max(1));
    let queue = Mutex::new(sources.components.iter().collect::<Vec<_>>());
    let shared = SharedCompiles::default();
    let compiler = Compiler {
        engine,
        linker: &linker,
        content: sources.content.as_ref(),
        cache: cache.as_ref(),
        shared: &shared,
        config: &sources.config,
        missing,
    };
    let compiled: Vec<Result<Option<(String, PreparedComponent)>, RuntimeError>> =
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..workers)
                .map(|_| {
                    let (compiler, queue) = (&compiler, &queue);
                    scope.spawn(move || {
                        let mut done = Vec::new();
                        loop {
                            let job = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                            let Some(served) = job else {
                                return done;
                            };
                            done.push(compiler.prepare(served));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| {
                    worker.join().unwrap_or_else(|_| {
                        vec![Err(RuntimeError::Engine(
                            "a compile thread panicked".into(),
                        ))]
                    })
                })
                .collect()
        });
    crate::heap::release_freed_memory();
    let components = compiled
        .into_iter()
        .collect::<Result<Option<HashMap<_, _>>, _>>()?;
    Ok(components.map(|components| AppCode {
        engine: engine.clone(),
        components,
    }))
}

/// The host functions every component may import.
pub(crate) fn base_linker(engine: &wasmtime::Engine) -> Result<Linker<RequestState>, RuntimeError> {
    let mut linker = Linker::new(engine);
    crate::host::link::add_to_linker(&mut linker)
        .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
    Ok(linker)
}

/// Compiled components by Wasm digest, shared by the components of one app: the first
/// component to need a digest compiles it while the others wait, so a Wasm file used by
/// many components is compiled once. A failure is kept as its message.
type SharedCompiles =
    Mutex<HashMap<Sha256Digest, Arc<OnceLock<Result<Option<Component>, String>>>>>;

/// What the compile workers of one app share.
struct Compiler<'a> {
    engine: &'a SharedEngine,
    linker: &'a Linker<RequestState>,
    content: &'a dyn ContentResolver,
    cache: Option<&'a CompileCache>,
    shared: &'a SharedCompiles,
    config: &'a RuntimeConfig,
    missing: Missing,
}

impl Compiler<'_> {
    /// Compiles (or loads) one component and pre-instantiates the entry point of each
    /// trigger that runs it; `None` when it is not in the cache and `missing` says to
    /// leave it.
    fn prepare(
        &self,
        served: &ServedComponent,
    ) -> Result<Option<(String, PreparedComponent)>, RuntimeError> {
        let (component, host) = (&served.locked, &served.host);
        let Some(compiled) = compile(self, component)? else {
            return Ok(None);
        };
        let compiled = CompiledComponent {
            engine: self.engine.engine(),
            linker: self.linker,
            host,
            component: &compiled,
            config: self.config,
        };
        let mut handlers = Handlers::default();
        for trigger in &served.triggers {
            handlers.push(trigger.handler(&compiled)?);
        }
        Ok(Some((
            component.id.clone(),
            PreparedComponent {
                host: host.clone(),
                handlers,
            },
        )))
    }
}

/// Compiles a component, or loads it from the cache by its digest (`None`: not cached,
/// and the compiler was told to leave what is missing). A cache entry exists only for
/// bytes that hashed to its digest ([`composition::component_wasm`]).
fn compile(
    compiler: &Compiler<'_>,
    component: &LockedComponent,
) -> Result<Option<Component>, RuntimeError> {
    let (engine, content, cache, shared) = (
        compiler.engine.engine(),
        compiler.content,
        compiler.cache,
        compiler.shared,
    );
    let tier = compiler.engine.tier.name();
    let id = &component.id;
    let source_err = |problem: String| RuntimeError::Source {
        component: id.clone(),
        problem,
    };
    let started = Instant::now();
    let (digest, wasm) = composition::component_wasm(content, component)?;
    let cell = shared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(digest.clone())
        .or_default()
        .clone();
    let mut failure = None;
    let compiled = cell.get_or_init(|| {
        if let Some(compiled) = cache.and_then(|c| c.load(engine, &digest)) {
            tracing::info!(component = %id, %digest, tier, elapsed_ms = started.elapsed().as_millis() as u64, "loaded precompiled component from cache");
            return Ok(Some(compiled));
        }
        if compiler.missing == Missing::Leave {
            return Ok(None);
        }
        let result = (|| -> Result<(Component, &str), RuntimeError> {
            let bytes = wasm.into_bytes(id)?;
            if let Some(compiled) = compile_in_child(compiler, id, &digest, &bytes)? {
                return Ok((compiled, "child process"));
            }
            let compiled = compile_bytes(engine, id, &bytes)?;
            if let Some(cache) = cache {
                store_in_background(cache, id, tier, &digest, &compiled);
            }
            Ok((compiled, "in process"))
        })();
        match result {
            Ok((compiled, place)) => {
                tracing::info!(component = %id, %digest, tier, place, elapsed_ms = started.elapsed().as_millis() as u64, "compiled component");
                Ok(Some(compiled))
            }
            Err(e) => {
                let message = e.to_string();
                failure = Some(e);
                Err(message)
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    match compiled {
        Ok(compiled) => Ok(compiled.clone()),
        Err(first) => Err(source_err(format!(
            "its Wasm ({digest}) is shared with a component that failed: {first}"
        ))),
    }
}

/// Compiles optimized code in a child process ([`crate::code::child`]) and stores the
/// result in the cache; `None` means compile in-process: baseline code (a child costs
/// it 0.1–0.3 s of the first start, and its heap is returned once the optimized code
/// has replaced it), or a child that could not run.
fn compile_in_child(
    compiler: &Compiler<'_>,
    id: &str,
    digest: &Sha256Digest,
    bytes: &[u8],
) -> Result<Option<Component>, RuntimeError> {
    if compiler.engine.tier == CodeTier::Baseline {
        return Ok(None);
    }
    match child::compile(compiler.engine, id, bytes) {
        Ok(serialized) => {
            // Loaded from the cache entry when there is one, mapped as a later start
            // would load it, so this server's size does not depend on having compiled.
            if let Some(cache) = compiler.cache {
                cache.store_serialized(digest, &serialized);
                if let Some(component) = cache.load(compiler.engine.engine(), digest) {
                    return Ok(Some(component));
                }
            }
            match child::load(compiler.engine, &serialized) {
                Ok(component) => Ok(Some(component)),
                Err(why) => {
                    tracing::warn!(component = %id, "{why}; compiling in-process");
                    Ok(None)
                }
            }
        }
        Err(ChildFailure::Compile(detail)) => Err(RuntimeError::Compile {
            component: id.to_string(),
            detail,
        }),
        Err(ChildFailure::Unavailable(why)) => {
            tracing::warn!(component = %id, "{why}; compiling in-process");
            Ok(None)
        }
    }
}

/// Writes a component compiled in this process to the cache on a thread of its own:
/// serializing, writing and checksumming a 37 MB app's code took 80–180 ms of its first
/// start, which its first request need not wait for. A server stopped before the write
/// ends leaves no entry (at most a temporary file), and its next start compiles again.
fn store_in_background(
    cache: &CompileCache,
    id: &str,
    tier: &'static str,
    digest: &Sha256Digest,
    component: &Component,
) {
    let (cache, id, digest, component) = (
        cache.clone(),
        id.to_string(),
        digest.clone(),
        component.clone(),
    );
    let spawned = std::thread::Builder::new()
        .name("cache-store".into())
        .spawn(move || {
            // The serialized copy is freed back to the system, not kept in a heap.
            let _compiling = crate::heap::Compiling::start();
            if cache.store(&digest, &component) {
                tracing::info!(component = %id, %digest, tier, "compiled component written to the cache");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the compile cache writer; the component is not cached: {e}");
    }
}

/// Compiles a component's Wasm. A core module is made a component first
/// (`core_module`). One that imports or exports WASI release candidates is compiled
/// wrapped, so they reach the release implementation (`prerelease`); if its candidates
/// do not match their release, it is compiled as it is.
pub(crate) fn compile_bytes(
    engine: &wasmtime::Engine,
    id: &str,
    bytes: &[u8],
) -> Result<Component, RuntimeError> {
    let compile_err = |e: wasmtime::Error| RuntimeError::Compile {
        component: id.to_string(),
        detail: format!("{e:#}"),
    };
    let converted = crate::code::core_module::componentize(bytes).map_err(|source| {
        RuntimeError::CoreModule {
            component: id.to_string(),
            source,
        }
    })?;
    let bytes = converted.as_deref().unwrap_or(bytes);
    match crate::code::prerelease::wrap(bytes) {
        Ok(Some(wrapped)) => match Component::new(engine, &wrapped) {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::warn!(component = %id, "its WASI release-candidate imports differ from the releases; calls to them will fail: {e:#}")
            }
        },
        Ok(None) => {}
        Err(e) => return Err(compile_err(e.into())),
    }
    Component::new(engine, bytes).map_err(compile_err)
}
