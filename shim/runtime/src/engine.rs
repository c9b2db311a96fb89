//! The Wasmtime engine shared by every component of a process: pooling allocator with
//! copy-on-write memory images, and epoch interruption driven by a ticker thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Strategy};

use crate::RuntimeError;

/// How often the epoch advances. Guests yield to the scheduler at each tick, so one
/// busy guest cannot starve the others, and request timeouts fire within one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes at the start of each linear memory that a freed pool slot keeps mapped and
/// resets in place (copied back from the component's memory image, the rest zeroed)
/// instead of handing back to the kernel.
///
/// Measured on SDK-built apps (2 cores, wrk -c8): with Wasmtime's default of
/// returning the pages, every request's instance copy-on-write faults its memory
/// image back in, and in a multi-threaded process each such fault interrupts the
/// other core to flush its TLB: 44–55% of all CPU time went to those interrupts. Kept
/// resident, the pages stay private and writable across requests and the reset is one
/// `memcpy`: JavaScript hello (StarlingMonkey, 12 MB) 1,300 → 5,100 req/s, Python hello
/// (componentize-py, 37 MB) 390 → 1,050 req/s. The bound must cover the memory image
/// itself: the spin-sdk 3.4.1 Python image ends at 13.9 MiB, the spin-sdk 5 one at
/// 18.3 MiB, and with 16 MiB the spin-sdk 5 app's tail was decommitted and faulted back
/// every request (28% of CPU in TLB-shootdown interrupts, 4.4 ms of CPU per request);
/// with 32 MiB the kernel's share fell to 2.6% and a request to 2.5–3.0 ms, while the
/// 3.4.1 app stayed at 1.9 ms. 8 MiB was not enough for either Python app.
/// `PAGEMAP_SCAN`-guided resets (copy back only the written pages) stop after 32
/// separate written ranges and decommit the rest, which a Python request exceeds: with
/// them both Python apps fell to 40% of this throughput, so they are left off. The
/// price is memory: each pool slot used so far keeps up to this much resident per
/// memory, so an app's resident size follows its peak concurrency, as it would during
/// that peak anyway.
pub const LINEAR_MEMORY_KEEP_RESIDENT: usize = 32 << 20;

/// The same for tables: componentize-py apps hold tables of tens of thousands of
/// function references.
pub const TABLE_KEEP_RESIDENT: usize = 1 << 20;

/// Limits of the instance pool; each request takes one instance.
#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    pub instances: u32,
    pub max_memory: usize,
}

/// Which compiler an engine uses ([`crate::code`] says when each serves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeTier {
    /// Winch: compiles fast, runs slower; serves until optimized code is ready. Winch
    /// leaves the trampolines between host and guest (one per function a guest exports
    /// or puts in a table: tens of thousands in a componentize-py app) to Cranelift,
    /// which then does half of the work of a baseline compile; this tier has it skip
    /// its optimization passes for them (Python sample: first start 1.57–1.68 s →
    /// 1.46–1.59 s on 2 cores).
    Baseline,
    /// Cranelift: what the compile cache holds and what serves for good.
    Optimized,
}

impl CodeTier {
    /// As logs and cache entries name it.
    pub fn name(self) -> &'static str {
        match self {
            CodeTier::Baseline => "baseline",
            CodeTier::Optimized => "optimized",
        }
    }
}

/// An engine plus the thread that advances its epoch (stopped on drop).
#[derive(Debug)]
pub struct SharedEngine {
    engine: Engine,
    ticker_stop: Arc<AtomicBool>,
    pub pooling: bool,
    pub tier: CodeTier,
    /// What it was built for (a compile child builds the same engine from them).
    pub limits: PoolLimits,
}

impl SharedEngine {
    pub fn new(limits: PoolLimits, tier: CodeTier) -> Result<Self, RuntimeError> {
        let (engine, pooling) = match Engine::new(&config(Some(limits), tier)) {
            Ok(engine) => (engine, true),
            Err(err) => {
                // Pooling reserves virtual memory up front; hosts that cap address space
                // (ulimit -v) refuse it. Serving with on-demand allocation still works.
                tracing::warn!(error = %err, "pooling allocator unavailable; allocating instances on demand");
                let engine = Engine::new(&config(None, tier))
                    .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
                (engine, false)
            }
        };
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let stop = ticker_stop.clone();
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| RuntimeError::Engine(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Self {
            engine,
            ticker_stop,
            pooling,
            tier,
            limits,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for SharedEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn config(pool: Option<PoolLimits>, tier: CodeTier) -> Config {
    let mut config = Config::new();
    if tier == CodeTier::Baseline {
        config.strategy(Strategy::Winch);
        config.cranelift_opt_level(wasmtime::OptLevel::None);
    }
    config.wasm_component_model(true);
    // WASIp3 components (current Spin SDKs) use the component model's async ABI.
    config.wasm_component_model_async(true);
    config.wasm_component_model_more_async_builtins(true);
    config.wasm_component_model_async_stackful(true);
    config.wasm_component_model_error_context(true);
    config.epoch_interruption(true);
    config.memory_init_cow(true);
    if let Some(limits) = pool {
        let mut pooling = PoolingAllocationConfig::default();
        // Sized for real SDK output: componentize-py apps hold a dozen core instances,
        // several memories and tables of tens of thousands of elements.
        pooling
            .total_component_instances(limits.instances)
            .total_core_instances(limits.instances.saturating_mul(4).max(100))
            .total_memories(limits.instances.saturating_mul(2).max(100))
            .total_tables(limits.instances.saturating_mul(4).max(100))
            .total_stacks(limits.instances)
            .max_core_instances_per_component(200)
            .max_memories_per_component(20)
            .max_tables_per_component(50)
            .max_component_instance_size(10 << 20)
            .max_core_instance_size(10 << 20)
            .table_elements(100_000)
            .max_memory_size(limits.max_memory)
            .linear_memory_keep_resident(LINEAR_MEMORY_KEEP_RESIDENT.min(limits.max_memory))
            .table_keep_resident(TABLE_KEEP_RESIDENT);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    }
    config
}
