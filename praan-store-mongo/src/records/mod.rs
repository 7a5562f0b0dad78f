//! The BSON shape of every stored record, and its conversion to and from the domain types.
//!
//! One module per collection. Each record mirrors its domain type field by field, with every
//! instant as a BSON datetime (never a string), absent optional fields left out of the document,
//! and the record's own id as `_id`. Decoding goes through the domain constructors, so a document
//! no version of praan wrote is refused ([`ValidationError`], reported as
//! [`StoreError::Corrupt`](praan_core::store::StoreError::Corrupt)), never half-read.

mod command;
mod control;
mod device;
mod pre_clean;
mod reading;
mod schedule;
pub(crate) mod state;

pub(crate) use command::CommandRecord;
pub(crate) use control::ControlRecord;
pub(crate) use device::DeviceRecord;
pub(crate) use pre_clean::PreCleanRecord;
pub(crate) use reading::ReadingRecord;
pub(crate) use schedule::{RunRecord, ScheduleRecord};
pub(crate) use state::{PresenceRecord, ReportedRecord, StateRecord};

use mongodb::bson::DateTime;
use praan_core::domain::{Timestamp, ValidationError};

/// A timestamp as a BSON datetime (both are Unix milliseconds: the conversion is exact).
pub(crate) fn to_bson(t: Timestamp) -> DateTime {
    DateTime::from_millis(t.unix_millis())
}

/// A BSON datetime as a timestamp, if it is in the representable range.
pub(crate) fn to_timestamp(d: DateTime) -> Result<Timestamp, ValidationError> {
    Timestamp::from_unix_millis(d.timestamp_millis())
}

/// [`to_timestamp`] of an optional datetime.
pub(crate) fn to_timestamp_opt(d: Option<DateTime>) -> Result<Option<Timestamp>, ValidationError> {
    d.map(to_timestamp).transpose()
}
