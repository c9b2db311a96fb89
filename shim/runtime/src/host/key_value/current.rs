//! Key-value for current SDKs: `spin:key-value/key-value@3.0.0` (async functions,
//! keys as a stream) and `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch).
//!
//! Both reach the same stores as `fermyon:spin/key-value@2.0.0`, with the same grants
//! (`key_value_stores`), the same limit on open stores and the same database, so an
//! app can move between SDK versions and keep its data.

use std::sync::Arc;

use wasmtime::component::{Accessor, FutureReader, Linker, Resource, StreamReader};

use crate::host::bindings::current::spin::key_value::key_value as v3;
use crate::host::bindings::current::wasi::keyvalue::atomics::{self, Cas};
use crate::host::bindings::current::wasi::keyvalue::batch;
use crate::host::bindings::current::wasi::keyvalue::store::{self as wasi_kv, Bucket};
use crate::host::bindings::spin::fermyon::spin2_0_0::key_value::Error as V2Error;
use crate::host::key_value::backend::KeyValueBackend;
use crate::host::key_value::{KeyValue, KeyValueView, on_db};
use crate::telemetry::TraceSpan;

/// Links the current SDKs' key-value interfaces.
pub(super) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    v3::add_to_linker::<T, KeyValue>(linker, view)?;
    wasi_kv::add_to_linker::<T, KeyValue>(linker, view)?;
    atomics::add_to_linker::<T, KeyValue>(linker, view)?;
    batch::add_to_linker::<T, KeyValue>(linker, view)
}

/// What a compare-and-swap handle holds: the value of a key when it was taken.
#[derive(Debug)]
pub struct CasSnapshot {
    label: String,
    key: String,
    current: Option<Vec<u8>>,
}

impl From<V2Error> for v3::Error {
    fn from(e: V2Error) -> Self {
        match e {
            V2Error::StoreTableFull => v3::Error::StoreTableFull,
            V2Error::NoSuchStore => v3::Error::NoSuchStore,
            V2Error::AccessDenied => v3::Error::AccessDenied,
            V2Error::Other(m) => v3::Error::Other(m),
        }
    }
}

impl From<V2Error> for wasi_kv::Error {
    fn from(e: V2Error) -> Self {
        match e {
            V2Error::NoSuchStore => wasi_kv::Error::NoSuchStore,
            V2Error::AccessDenied => wasi_kv::Error::AccessDenied,
            V2Error::StoreTableFull => wasi_kv::Error::Other("too many open stores".into()),
            V2Error::Other(m) => wasi_kv::Error::Other(m),
        }
    }
}

/// The span of one call, under the instance's trace.
fn traced<T>(accessor: &Accessor<T, KeyValue>, name: &'static str) -> TraceSpan {
    accessor.with(|mut access| access.get().traced(name))
}

fn db_of<T>(
    accessor: &Accessor<T, KeyValue>,
    store: &Resource<v3::Store>,
) -> wasmtime::Result<(Arc<KeyValueBackend>, String)> {
    accessor.with(|mut access| access.get().db_of(store))
}

impl v3::Host for KeyValueView<'_> {}

impl v3::HostStore for KeyValueView<'_> {
    async fn drop(&mut self, store: Resource<v3::Store>) -> wasmtime::Result<()> {
        self.close_store(store)
    }
}

impl<T> v3::HostStoreWithStore<T> for KeyValue {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<v3::Store>, v3::Error>> {
        Ok(accessor.with(|mut access| access.get().open_store(label).map_err(v3::Error::from)))
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<v3::Store>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, v3::Error>> {
        on_db(
            traced(accessor, "spin_key_value.get"),
            db_of(accessor, &store)?,
            move |db, label| db.get(label, key),
        )
        .await
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<v3::Store>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        on_db(
            traced(accessor, "spin_key_value.set"),
            db_of(accessor, &store)?,
            move |db, label| db.set(label, key, value),
        )
        .await
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<v3::Store>,
        key: String,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        on_db(
            traced(accessor, "spin_key_value.delete"),
            db_of(accessor, &store)?,
            move |db, label| db.delete(label, key),
        )
        .await
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<v3::Store>,
        key: String,
    ) -> wasmtime::Result<Result<bool, v3::Error>> {
        on_db(
            traced(accessor, "spin_key_value.exists"),
            db_of(accessor, &store)?,
            move |db, label| db.exists(label, key),
        )
        .await
    }

    /// The keys are read at once (the store's keys are bounded by the database cap)
    /// and streamed to the guest; the future tells whether reading them failed.
    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<v3::Store>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), v3::Error>>)> {
        let keys: Result<Vec<String>, v3::Error> = on_db(
            traced(accessor, "spin_key_value.get_keys"),
            db_of(accessor, &store)?,
            |db, label| db.keys(label),
        )
        .await?;
        let (keys, outcome) = match keys {
            Ok(keys) => (keys, Ok(())),
            Err(e) => (Vec::new(), Err(e)),
        };
        accessor.with(|mut access| {
            let stream = StreamReader::new(&mut access, keys)?;
            let future =
                FutureReader::new(
                    &mut access,
                    async move { wasmtime::Result::<_>::Ok(outcome) },
                )?;
            Ok((stream, future))
        })
    }
}

impl wasi_kv::Host for KeyValueView<'_> {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, wasi_kv::Error>> {
        Ok(self.open_store(identifier).map_err(wasi_kv::Error::from))
    }
}

impl wasi_kv::HostBucket for KeyValueView<'_> {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        on_db(
            self.traced("wasi_key_value.get"),
            self.db_of(&bucket)?,
            move |db, label| db.get(label, key),
        )
        .await
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        on_db(
            self.traced("wasi_key_value.set"),
            self.db_of(&bucket)?,
            move |db, label| db.set(label, key, value),
        )
        .await
    }

    async fn delete(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        on_db(
            self.traced("wasi_key_value.delete"),
            self.db_of(&bucket)?,
            move |db, label| db.delete(label, key),
        )
        .await
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_kv::Error>> {
        on_db(
            self.traced("wasi_key_value.exists"),
            self.db_of(&bucket)?,
            move |db, label| db.exists(label, key),
        )
        .await
    }

    /// All keys in one response (no cursor): the store is bounded by the database cap.
    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        _cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_kv::KeyResponse, wasi_kv::Error>> {
        let keys: Result<Vec<String>, wasi_kv::Error> = on_db(
            self.traced("wasi_key_value.list_keys"),
            self.db_of(&bucket)?,
            |db, label| db.keys(label),
        )
        .await?;
        Ok(keys.map(|keys| wasi_kv::KeyResponse { keys, cursor: None }))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.close_store(bucket)
    }
}

impl atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_kv::Error>> {
        on_db(
            self.traced("wasi_key_value.increment"),
            self.db_of(&bucket)?,
            move |db, label| db.increment(label, key, delta),
        )
        .await
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let CasSnapshot {
            label,
            key,
            current,
        } = self.handles.cas.remove(cas)?;
        let db = self.db_of_label(&label)?;
        // Swapped: `None`; someone else changed the key first: `Some(its value now)`.
        let outcome: Result<Option<Option<Vec<u8>>>, V2Error> =
            on_db(self.traced("wasi_key_value.swap"), (db, label.clone()), {
                let key = key.clone();
                move |db, label| async move {
                    if db
                        .clone()
                        .compare_and_swap(label.clone(), key.clone(), current, value)
                        .await?
                    {
                        Ok(None)
                    } else {
                        db.get(label, key).await.map(Some)
                    }
                }
            })
            .await?;
        Ok(match outcome {
            Ok(None) => Ok(()),
            // A fresh handle to retry with.
            Ok(Some(current)) => match self.handles.cas.push(CasSnapshot {
                label,
                key,
                current,
            }) {
                Ok(retry) => Err(atomics::CasError::CasFailed(retry)),
                // Another handle was taken while this swap ran.
                Err(_) => Err(atomics::CasError::StoreError(cas_table_full())),
            },
            Err(e) => Err(atomics::CasError::StoreError(e.into())),
        })
    }
}

impl atomics::HostCas for KeyValueView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, wasi_kv::Error>> {
        if self.handles.cas.is_full() {
            return Ok(Err(cas_table_full()));
        }
        let (db, label) = self.db_of(&bucket)?;
        let read = {
            let key = key.clone();
            on_db(
                self.traced("wasi_key_value_cas.new"),
                (db, label.clone()),
                move |db, label| db.get(label, key),
            )
            .await?
        };
        let current = match read {
            Ok(current) => current,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self
            .handles
            .cas
            .push(CasSnapshot {
                label,
                key,
                current,
            })
            .map_err(|_| cas_table_full()))
    }

    async fn current(
        &mut self,
        cas: Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        Ok(Ok(self.handles.cas.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.handles.cas.remove(cas).map(drop)
    }
}

fn cas_table_full() -> wasi_kv::Error {
    wasi_kv::Error::Other(format!(
        "more than {} compare-and-swap handles open; drop one first",
        super::MAX_OPEN_CAS
    ))
}

impl batch::Host for KeyValueView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_kv::Error>> {
        on_db(
            self.traced("wasi_key_value.get_many"),
            self.db_of(&bucket)?,
            move |db, label| async move {
                let mut found = Vec::with_capacity(keys.len());
                for key in keys {
                    let value = db.clone().get(label.clone(), key.clone()).await?;
                    found.push((key, value));
                }
                Ok(found)
            },
        )
        .await
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        on_db(
            self.traced("wasi_key_value.set_many"),
            self.db_of(&bucket)?,
            move |db, label| async move {
                for (key, value) in key_values {
                    db.clone().set(label.clone(), key, value).await?;
                }
                Ok(())
            },
        )
        .await
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        on_db(
            self.traced("wasi_key_value.delete_many"),
            self.db_of(&bucket)?,
            move |db, label| async move {
                for key in keys {
                    db.clone().delete(label.clone(), key).await?;
                }
                Ok(())
            },
        )
        .await
    }
}
