//! A host capability: one Spin service (key-value, SQLite, Redis, ...) with every
//! version of its interfaces, what a component may use of it, and what one instance
//! holds of it.
//!
//! - The **grant** is fixed at start-up from the manifest and the runtime config and
//!   shared by every instance of the component: the stores or databases it may open,
//!   the hosts it may reach.
//! - The **handles** are what one instance has open (stores, connections, ...), each
//!   kind in a [`CappedTable`](crate::host::capped_table::CappedTable): made with the
//!   instance, dropped with it, never more than the table's `MAX`.
//!
//! Host functions run on a [`CapabilityView`] of the two. The instance state
//! ([`RequestState`](crate::host::state::RequestState)) holds every capability's
//! handles and projects each capability's view when the linker is built
//! ([`crate::host::link`]), so a capability knows neither the instance state nor the
//! other capabilities, and the generated bindings name no host type (a handle is a
//! slot of its table).
//!
//! Variables and Spin's outbound HTTP hold no handles; they are linked the same way to
//! a view of their grant alone.

use wasmtime::component::{HasData, Linker};

/// What a capability's host functions run on.
pub struct CapabilityView<'a, Grant, Handles> {
    /// The component's id, for logs and messages.
    pub component: &'a str,
    /// Where the spans of the capability's calls hang ([`crate::telemetry`]).
    pub trace: &'a crate::telemetry::TraceParent,
    pub grant: &'a Grant,
    pub handles: &'a mut Handles,
}

/// A Spin service the host gives components, with per-instance handles.
pub trait HostCapability: HasData {
    /// What a component may use, shared by its instances.
    type Grant: Send + Sync + 'static;
    /// What one instance has open.
    type Handles: Default + Send + 'static;

    /// Links every version of the capability's interfaces, each call projecting the
    /// instance state `T` to this capability's view.
    fn add_to_linker<T: Send + 'static>(
        linker: &mut Linker<T>,
        view: fn(&mut T) -> CapabilityView<'_, Self::Grant, Self::Handles>,
    ) -> wasmtime::Result<()>;
}
