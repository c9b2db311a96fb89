//! What a trigger type provides ([`Trigger`]), and an app's trigger whatever its type
//! ([`AppTrigger`]). The list of the types this runtime runs is in [`super`].

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use spin_app::LockedApp;

use super::entry_point::CompiledComponent;
use super::run::{Ended, TriggerError};
use crate::{PreparedApp, RuntimeError};

/// The application variables' values, by name.
pub type AppValues = BTreeMap<String, String>;

/// One type of trigger: the locked app's `[[trigger.TYPE]]` entries.
pub trait Trigger: Sized + Send + Sync + 'static {
    /// Its `trigger_type` in the locked app.
    const TYPE: &'static str;
    /// A component's entry point for it, pre-instantiated once per compile pass.
    type Handler: Send + Sync + 'static;
    /// Why it stopped the app for good.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Reads its entries (and the app's `[application.trigger.TYPE]` settings), with
    /// `{{ variable }}` templates resolved from `values`; `None` when the app has none.
    /// Every error names the trigger and the setting to fix.
    fn read(app: &LockedApp, values: &AppValues) -> Result<Option<Self>, RuntimeError>;

    /// Whether one of its entries runs component `id`.
    fn runs(&self, id: &str) -> bool;

    /// Whether anything outside the app reaches it. An HTTP trigger whose routes are all
    /// private is reached only by the app's own components (service chaining), so an
    /// app with nothing else has nothing to run.
    fn reachable(&self) -> bool {
        true
    }

    /// What `spin-run` prints and the shim logs about it at start (subscriptions,
    /// schedules). The HTTP routes are printed with the address the server bound.
    fn describe(&self) -> Vec<String>;

    /// Finds its entry point among a component's exports and pre-instantiates it.
    fn handler(component: &CompiledComponent<'_>) -> Result<Self::Handler, RuntimeError>;

    /// Runs until it fails for good (its error) or, for a command, finishes (its exit
    /// status); dropped when the app stops.
    fn run(
        self: Arc<Self>,
        app: Arc<PreparedApp>,
    ) -> impl Future<Output = Result<Ended, Self::Error>> + Send;
}

/// A [`Trigger`] of an app, whatever its type.
pub trait AppTrigger: Any + Send + Sync {
    fn trigger_type(&self) -> &'static str;
    fn runs(&self, id: &str) -> bool;
    fn reachable(&self) -> bool;
    fn describe(&self) -> Vec<String>;
    fn handler(&self, component: &CompiledComponent<'_>) -> Result<Handler, RuntimeError>;
    fn run(
        self: Arc<Self>,
        app: Arc<PreparedApp>,
    ) -> BoxFuture<'static, Result<Ended, TriggerError>>;
}

impl<T: Trigger> AppTrigger for T {
    fn trigger_type(&self) -> &'static str {
        T::TYPE
    }

    fn runs(&self, id: &str) -> bool {
        Trigger::runs(self, id)
    }

    fn reachable(&self) -> bool {
        Trigger::reachable(self)
    }

    fn describe(&self) -> Vec<String> {
        Trigger::describe(self)
    }

    fn handler(&self, component: &CompiledComponent<'_>) -> Result<Handler, RuntimeError> {
        Ok(Handler {
            trigger: TypeId::of::<T>(),
            handler: Box::new(T::handler(component)?),
        })
    }

    fn run(
        self: Arc<Self>,
        app: Arc<PreparedApp>,
    ) -> BoxFuture<'static, Result<Ended, TriggerError>> {
        Trigger::run(self, app)
            .map(|ended| {
                ended.map_err(|e| TriggerError {
                    trigger_type: T::TYPE,
                    source: Box::new(e),
                })
            })
            .boxed()
    }
}

/// One trigger's pre-instantiated entry point into one component.
pub struct Handler {
    trigger: TypeId,
    handler: Box<dyn Any + Send + Sync>,
}

/// A component's entry points, one per trigger type that runs it.
#[derive(Default)]
pub struct Handlers(Vec<Handler>);

impl Handlers {
    pub(crate) fn push(&mut self, handler: Handler) {
        self.0.push(handler);
    }

    /// Trigger `T`'s entry point, when `T` runs the component.
    pub fn get<T: Trigger>(&self) -> Option<&T::Handler> {
        self.0
            .iter()
            .find(|h| h.trigger == TypeId::of::<T>())
            .and_then(|h| h.handler.downcast_ref())
    }
}
