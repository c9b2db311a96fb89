//! Key-value for current SDKs: `spin:key-value/key-value@3.0.0` (async functions,
//! keys as a stream) and `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch).
//!
//! Both reach the same stores as `fermyon:spin/key-value@2.0.0`, with the same grants
//! (`key_value_stores`), the same limit on open stores and the same database, so an
//! app can move between SDK versions and keep its data.

use std::sync::Arc;

use wasmtime::component::{Accessor, FutureReader, HasSelf, Resource, StreamReader};

use crate::host::bindings::current::spin::key_value::key_value as v3;
use crate::host::bindings::current::wasi::keyvalue::{atomics, batch, store as wasi_kv};
use crate::host::bindings::spin::fermyon::spin2_0_0::key_value::Error as V2Error;
use crate::host::key_value::backend::KeyValueBackend;
use crate::host::key_value::{OpenStore, on_db};
use crate::host::state::RequestState;

/// Most compare-and-swap handles one request may hold at once: each holds a copy of
/// a value, so a guest must not pile them up.
const MAX_OPEN_CAS: usize = 16;

/// A compare-and-swap handle: the value of a key when it was taken.
#[derive(Debug)]
pub struct Cas {
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

fn db_of<T>(
    accessor: &Accessor<T, HasSelf<RequestState>>,
    store: &Resource<OpenStore>,
) -> wasmtime::Result<(Arc<KeyValueBackend>, String)> {
    accessor.with(|mut access| access.get().db_of(store))
}

impl v3::Host for RequestState {}

impl v3::HostStore for RequestState {
    async fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.close_store(store)
    }
}

impl<T> v3::HostStoreWithStore<T> for HasSelf<RequestState> {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<OpenStore>, v3::Error>> {
        accessor.with(|mut access| {
            access
                .get()
                .open_store(label)
                .map(|opened| opened.map_err(v3::Error::from))
        })
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, v3::Error>> {
        on_db(db_of(accessor, &store)?, move |db, label| {
            db.get(label, key)
        })
        .await
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        on_db(db_of(accessor, &store)?, move |db, label| {
            db.set(label, key, value)
        })
        .await
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        on_db(db_of(accessor, &store)?, move |db, label| {
            db.delete(label, key)
        })
        .await
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, v3::Error>> {
        on_db(db_of(accessor, &store)?, move |db, label| {
            db.exists(label, key)
        })
        .await
    }

    /// The keys are read at once (the store's keys are bounded by the database cap)
    /// and streamed to the guest; the future tells whether reading them failed.
    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), v3::Error>>)> {
        let keys: Result<Vec<String>, v3::Error> =
            on_db(db_of(accessor, &store)?, |db, label| db.keys(label)).await?;
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

impl wasi_kv::Host for RequestState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<OpenStore>, wasi_kv::Error>> {
        self.open_store(identifier)
            .map(|opened| opened.map_err(wasi_kv::Error::from))
    }
}

impl wasi_kv::HostBucket for RequestState {
    async fn get(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        on_db(self.db_of(&bucket)?, move |db, label| db.get(label, key)).await
    }

    async fn set(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        on_db(self.db_of(&bucket)?, move |db, label| {
            db.set(label, key, value)
        })
        .await
    }

    async fn delete(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        on_db(self.db_of(&bucket)?, move |db, label| db.delete(label, key)).await
    }

    async fn exists(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_kv::Error>> {
        on_db(self.db_of(&bucket)?, move |db, label| db.exists(label, key)).await
    }

    /// All keys in one response (no cursor): the store is bounded by the database cap.
    async fn list_keys(
        &mut self,
        bucket: Resource<OpenStore>,
        _cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_kv::KeyResponse, wasi_kv::Error>> {
        let keys: Result<Vec<String>, wasi_kv::Error> =
            on_db(self.db_of(&bucket)?, |db, label| db.keys(label)).await?;
        Ok(keys.map(|keys| wasi_kv::KeyResponse { keys, cursor: None }))
    }

    async fn drop(&mut self, bucket: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.close_store(bucket)
    }
}

impl atomics::Host for RequestState {
    async fn increment(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_kv::Error>> {
        on_db(self.db_of(&bucket)?, move |db, label| {
            db.increment(label, key, delta)
        })
        .await
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let Cas {
            label,
            key,
            current,
        } = self.table.delete(cas)?;
        self.open_cas = self.open_cas.saturating_sub(1);
        let db = self.db_of_label(&label)?;
        // Swapped: `None`; someone else changed the key first: `Some(its value now)`.
        let outcome: Result<Option<Option<Vec<u8>>>, V2Error> = on_db((db, label.clone()), {
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
            Ok(Some(current)) => {
                let retry = self.table.push(Cas {
                    label,
                    key,
                    current,
                })?;
                self.open_cas += 1;
                Err(atomics::CasError::CasFailed(retry))
            }
            Err(e) => Err(atomics::CasError::StoreError(e.into())),
        })
    }
}

impl atomics::HostCas for RequestState {
    async fn new(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, wasi_kv::Error>> {
        if self.open_cas >= MAX_OPEN_CAS {
            return Ok(Err(wasi_kv::Error::Other(format!(
                "more than {MAX_OPEN_CAS} compare-and-swap handles open; drop one first"
            ))));
        }
        let (db, label) = self.db_of(&bucket)?;
        let read = {
            let key = key.clone();
            on_db((db, label.clone()), move |db, label| db.get(label, key)).await?
        };
        let current = match read {
            Ok(current) => current,
            Err(e) => return Ok(Err(e)),
        };
        let cas = self.table.push(Cas {
            label,
            key,
            current,
        })?;
        self.open_cas += 1;
        Ok(Ok(cas))
    }

    async fn current(
        &mut self,
        cas: Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        self.open_cas = self.open_cas.saturating_sub(1);
        Ok(())
    }
}

impl batch::Host for RequestState {
    async fn get_many(
        &mut self,
        bucket: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_kv::Error>> {
        on_db(self.db_of(&bucket)?, move |db, label| async move {
            let mut found = Vec::with_capacity(keys.len());
            for key in keys {
                let value = db.clone().get(label.clone(), key.clone()).await?;
                found.push((key, value));
            }
            Ok(found)
        })
        .await
    }

    async fn set_many(
        &mut self,
        bucket: Resource<OpenStore>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        on_db(self.db_of(&bucket)?, move |db, label| async move {
            for (key, value) in key_values {
                db.clone().set(label.clone(), key, value).await?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        on_db(self.db_of(&bucket)?, move |db, label| async move {
            for key in keys {
                db.clone().delete(label.clone(), key).await?;
            }
            Ok(())
        })
        .await
    }
}
