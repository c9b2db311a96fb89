//! The handles one instance holds of one kind (open stores, connections, ...), at most
//! `MAX` at once: the limit is part of the type, so no capability keeps a count by
//! hand and none can forget to.
//!
//! A handle given to the guest is a [`Resource`] whose `rep` is a slot of the table.
//! The guest cannot make up a `rep` (the component model gives it only the handles the
//! host returned), so an unknown one is a host bug and traps.

use wasmtime::component::Resource;

#[derive(Debug)]
pub struct CappedTable<T, const MAX: usize> {
    slots: Vec<Option<T>>,
    len: usize,
}

impl<T, const MAX: usize> Default for CappedTable<T, MAX> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            len: 0,
        }
    }
}

impl<T, const MAX: usize> CappedTable<T, MAX> {
    /// Most handles held at once.
    pub const MAX: usize = MAX;

    /// Keeps `value` and returns its handle, or gives `value` back when `MAX` handles
    /// are held (so the caller can release what it holds, such as a pooled connection).
    pub fn push<R: 'static>(&mut self, value: T) -> Result<Resource<R>, T> {
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(free) => free,
            None if self.slots.len() < MAX => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(value),
        };
        self.slots[slot] = Some(value);
        self.len += 1;
        const { assert!(MAX <= u32::MAX as usize, "a rep is a u32") };
        Ok(Resource::new_own(slot as u32))
    }

    pub fn get<R: 'static>(&self, handle: &Resource<R>) -> wasmtime::Result<&T> {
        self.slots
            .get(handle.rep() as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| unknown(handle))
    }

    pub fn get_mut<R: 'static>(&mut self, handle: &Resource<R>) -> wasmtime::Result<&mut T> {
        self.slots
            .get_mut(handle.rep() as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| unknown(handle))
    }

    /// Takes the value out; its slot is free for the next `push`.
    pub fn remove<R: 'static>(&mut self, handle: Resource<R>) -> wasmtime::Result<T> {
        let taken = self
            .slots
            .get_mut(handle.rep() as usize)
            .and_then(Option::take)
            .ok_or_else(|| unknown(&handle))?;
        self.len -= 1;
        Ok(taken)
    }

    pub fn is_full(&self) -> bool {
        self.len >= MAX
    }
}

fn unknown<R: 'static>(handle: &Resource<R>) -> wasmtime::Error {
    wasmtime::format_err!(
        "no {} handle {} in this instance",
        std::any::type_name::<R>()
            .rsplit("::")
            .next()
            .unwrap_or("resource"),
        handle.rep()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Handle;

    #[test]
    fn holds_at_most_max_and_gives_the_value_back() {
        let mut table = CappedTable::<String, 2>::default();
        let a = table.push::<Handle>("a".into()).unwrap();
        let _b = table.push::<Handle>("b".into()).unwrap();
        assert!(table.is_full());
        assert_eq!(table.push::<Handle>("c".into()).unwrap_err(), "c");
        assert_eq!(table.remove(a).unwrap(), "a");
        assert!(!table.is_full());
        let c = table.push::<Handle>("c".into()).unwrap();
        assert_eq!(table.get(&c).unwrap(), "c");
    }

    #[test]
    fn a_removed_or_unknown_handle_is_an_error() {
        let mut table = CappedTable::<u8, 4>::default();
        let a = table.push::<Handle>(1).unwrap();
        let again = Resource::<Handle>::new_own(a.rep());
        table.remove(a).unwrap();
        assert!(table.get(&again).is_err());
        assert!(table.remove(again).is_err());
        assert!(table.get_mut(&Resource::<Handle>::new_own(9)).is_err());
    }

    #[test]
    fn slots_are_reused_so_the_table_never_grows_past_max() {
        let mut table = CappedTable::<u32, 3>::default();
        for i in 0..1000 {
            let h = table.push::<Handle>(i).unwrap();
            *table.get_mut(&h).unwrap() += 1;
            assert_eq!(table.remove(h).unwrap(), i + 1);
        }
        assert!(table.slots.len() <= 1);
    }
}
