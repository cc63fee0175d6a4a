//! The few request shapes every operation uses, each classifying its error:
//! get (missing = `None`), server-side apply with our one field manager
//! (so a redelivered deploy converges), merge patch, and delete with a
//! propagation policy (missing = success).

use std::fmt::Debug;

use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::errors::{classify, is_not_found};
use super::names::FIELD_MANAGER;
use crate::runtime::error::RuntimeError;

/// What every object type we touch is.
pub trait Object:
    kube::Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned + Send + Sync
{
}

impl<K> Object for K where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
{
}

fn what<K: Object>(name: &str) -> String {
    format!("{} {name}", K::kind(&()))
}

/// The object, or `None` when there is none by that name.
pub async fn get<K: Object>(
    api: &Api<K>,
    operation: &'static str,
    name: &str,
) -> Result<Option<K>, RuntimeError> {
    api.get_opt(name)
        .await
        .map_err(|error| classify(operation, &what::<K>(name), error))
}

/// Server-side apply of `object` (which names itself), forcing our field
/// manager's ownership of the fields it sets.
pub async fn apply<K: Object>(
    api: &Api<K>,
    operation: &'static str,
    object: &K,
) -> Result<K, RuntimeError> {
    let name = object.meta().name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .map_err(|error| classify(operation, &what::<K>(&name), error))
}

/// A JSON merge patch (`replicas`, `suspend`, an annotation, a label),
/// under our field manager (as an update: its fields are not the applied
/// configuration's, so a redelivered deploy's apply leaves them be).
pub async fn merge<K: Object>(
    api: &Api<K>,
    operation: &'static str,
    name: &str,
    patch: serde_json::Value,
) -> Result<K, RuntimeError> {
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    api.patch(name, &params, &Patch::Merge(patch))
        .await
        .map_err(|error| classify(operation, &what::<K>(name), error))
}

/// Deletes with background propagation (the Deployment's ReplicaSets and
/// pods, the Job's pods follow); one already gone is success.
pub async fn delete<K: Object>(
    api: &Api<K>,
    operation: &'static str,
    name: &str,
) -> Result<(), RuntimeError> {
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(error) if is_not_found(&error) => Ok(()),
        Err(error) => Err(classify(operation, &what::<K>(name), error)),
    }
}
