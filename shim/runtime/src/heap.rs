//! Hands the heap that compiling freed back to the kernel.
//!
//! Cranelift and Winch allocate hundreds of MiB while compiling a 10–40 MB component
//! and free it when done, but glibc's allocator keeps freed memory in its arenas, so
//! a process that compiled would stay ~300 MiB larger for its whole life than one that
//! loaded the same component from the compile cache.

// `malloc_trim` is a C function of glibc; calling it has no preconditions beyond
// glibc being the allocator in use, which the `cfg` below ensures.
#![allow(unsafe_code)]

/// Returns free heap memory (in every arena) to the kernel.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: see the module comment; `malloc_trim` only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}
