//! The repository traits of `praan_core::store` on [`MongoStore`](crate::MongoStore), one module
//! per trait, and the helpers they share.

mod commands;
mod controls;
mod devices;
mod maintenance;
mod pre_cleans;
mod schedules;
mod states;
mod statistics;
mod telemetry;

use mongodb::{
    Cursor,
    bson::{Bson, Document},
};
use praan_core::{domain::ValidationError, store::StoreResult};
use serde::{Serialize, de::DeserializeOwned};

use crate::error;

/// Every document of `cursor`, decoded into domain values.
async fn all<R, T>(mut cursor: Cursor<R>, entity: &'static str, doing: &str) -> StoreResult<Vec<T>>
where
    R: DeserializeOwned + Send + Sync,
    T: TryFrom<R, Error = ValidationError>,
{
    let mut out = Vec::new();
    while cursor
        .advance()
        .await
        .map_err(|e| error::failed(e, doing.to_owned()))?
    {
        let record = cursor
            .deserialize_current()
            .map_err(|e| error::failed(e, format!("decoding a {entity} while {doing}")))?;
        out.push(decode(record, entity, doing)?);
    }
    Ok(out)
}

/// A record as its domain value.
fn decode<R, T>(record: R, entity: &'static str, doing: &str) -> StoreResult<T>
where
    T: TryFrom<R, Error = ValidationError>,
{
    T::try_from(record).map_err(|e| error::corrupt(e, format!("decoding a {entity} while {doing}")))
}

/// A record as a BSON document.
fn to_document<T: Serialize>(value: &T, what: &str) -> StoreResult<Document> {
    mongodb::bson::serialize_to_document(value)
        .map_err(|e| error::encode(e, format!("encoding {what}")))
}

/// A value as BSON.
fn to_bson<T: Serialize>(value: &T, what: &str) -> StoreResult<Bson> {
    mongodb::bson::serialize_to_bson(value)
        .map_err(|e| error::encode(e, format!("encoding {what}")))
}
