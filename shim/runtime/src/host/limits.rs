//! Memory cap for one instance: the sum of all its linear memories and tables.

/// What the host holds for one table element (a reference: one pointer).
const TABLE_ELEMENT_BYTES: usize = 8;

/// Refuses memory or table growth past `max_bytes` in total across the instance's
/// memories and tables, so a guest that allocates without bound fails its own request
/// and nothing else. With the pooling allocator tables are also bounded by its slots;
/// without it (a node that cannot reserve the pool's address space) this is the only
/// bound on them.
#[derive(Debug)]
pub struct MemoryLimiter {
    max_bytes: usize,
    used: usize,
    pub exceeded: bool,
}

impl MemoryLimiter {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            used: 0,
            exceeded: false,
        }
    }

    /// Bytes of memories and tables the instance holds.
    pub fn used(&self) -> usize {
        self.used
    }

    /// One memory or table goes from `current` to `desired` bytes.
    fn grow(&mut self, current: usize, desired: usize) -> bool {
        let after = (self.used - current.min(self.used)).saturating_add(desired);
        if after > self.max_bytes {
            self.exceeded = true;
            return false;
        }
        self.used = after;
        true
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(current, desired))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(
            current.saturating_mul(TABLE_ELEMENT_BYTES),
            desired.saturating_mul(TABLE_ELEMENT_BYTES),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn counts_all_memories_together() {
        let mut l = MemoryLimiter::new(100);
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(l.memory_growing(0, 30, None).unwrap());
        assert!(!l.memory_growing(30, 50, None).unwrap());
        assert!(l.exceeded);
        assert!(l.memory_growing(60, 70, None).unwrap());
    }

    #[test]
    fn tables_count_against_the_same_bound() {
        let mut l = MemoryLimiter::new(1 << 20);
        assert!(l.memory_growing(0, 512 << 10, None).unwrap());
        // 64Ki elements of 8 bytes: 512 KiB, which fits beside the memory; one more
        // element does not.
        assert!(l.table_growing(0, 64 << 10, None).unwrap());
        assert!(!l.table_growing(64 << 10, (64 << 10) + 1, None).unwrap());
        assert!(l.exceeded);
        assert!(
            !l.table_growing(0, usize::MAX, None).unwrap(),
            "no overflow"
        );
    }
}
