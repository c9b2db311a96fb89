//! Keeps what compiling allocates from staying resident after it is freed.
//!
//! Compiling a 10–40 MB component allocates hundreds of MiB (the Wasm, the compiler's
//! working sets, the serialized artifact) and frees it when done. glibc's allocator
//! keeps freed memory in its arenas, and its default adaptive threshold soon serves
//! even tens-of-MiB buffers from the arenas instead of `mmap`, so a server that
//! compiled stayed 20–100 MiB larger for its whole life than one that loaded the same
//! component from the compile cache.

// `mallopt` and `malloc_trim` are C functions of glibc; they have no preconditions
// beyond glibc being the allocator in use, which the `cfg`s below ensure.
#![allow(unsafe_code)]

/// Buffers of this size or more get their own mapping, returned to the kernel when freed.
const MMAP_THRESHOLD: i32 = 4 << 20;

/// Free memory at the top of a heap is handed back only beyond this much (fixing the
/// threshold above would otherwise leave glibc trimming at every 128 KiB, which cost the
/// JavaScript sample 10–20% of its throughput); compiles trim explicitly.
const TRIM_THRESHOLD: i32 = 64 << 20;

/// The trim threshold while something compiles. `malloc_trim` returns the free top of
/// the main heap only; the other threads' heaps give theirs back only as it is freed and
/// only beyond the threshold, so with the serving threshold a server that compiled kept
/// 17–24 MiB of free heap top resident in the compile threads' heaps for good.
const COMPILING_TRIM_THRESHOLD: i32 = 1 << 20;

/// How many compiles run now (the low threshold holds while any does).
static COMPILING: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

/// While it lives, memory freed at the top of any thread's heap beyond 1 MiB goes back
/// to the kernel, so what a compile frees, in whichever thread, does not stay resident;
/// when the last one ends, the serving threshold holds. Starting one also fixes the
/// `mmap` threshold for good (it stops adapting). Measured on the samples: per-request
/// throughput unchanged; idle size after a first start that compiled 59–72 MiB against
/// 68–76 MiB for a start from the cache (with the adaptive threshold: 90–107 MiB).
pub struct Compiling(());

impl Compiling {
    pub fn start() -> Self {
        let mut running = COMPILING.lock().unwrap_or_else(|p| p.into_inner());
        if *running == 0 {
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            // SAFETY: see the module comment.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            }
            set_trim_threshold(COMPILING_TRIM_THRESHOLD);
        }
        *running += 1;
        Self(())
    }
}

impl Drop for Compiling {
    fn drop(&mut self) {
        let mut running = COMPILING.lock().unwrap_or_else(|p| p.into_inner());
        *running -= 1;
        if *running == 0 {
            set_trim_threshold(TRIM_THRESHOLD);
        }
    }
}

fn set_trim_threshold(bytes: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: see the module comment.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, bytes);
    }
}

/// Returns free heap memory to the kernel: free blocks in every thread's heap, and the
/// free top of the main heap (the other heaps' tops go as [`Compiling`] lets them).
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: see the module comment; `malloc_trim` only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}
