//! `devices`: the registry, one document per device, `_id` = device id.

use mongodb::bson::DateTime;
use praan_core::domain::{Device, DeviceId, DeviceStatus, Label, Specifications, ValidationError};
use serde::{Deserialize, Serialize};

use super::{to_bson, to_timestamp};

/// A registered device.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceRecord {
    #[serde(rename = "_id")]
    device_id: DeviceId,
    name: Label,
    #[serde(rename = "type")]
    device_type: Label,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    location: Option<Label>,
    specifications: Specifications,
    status: DeviceStatus,
    auto_registered: bool,
    registered_at: DateTime,
    updated_at: DateTime,
}

impl From<&Device> for DeviceRecord {
    fn from(d: &Device) -> Self {
        Self {
            device_id: d.device_id.clone(),
            name: d.name.clone(),
            device_type: d.device_type.clone(),
            location: d.location.clone(),
            specifications: d.specifications.clone(),
            status: d.status,
            auto_registered: d.auto_registered,
            registered_at: to_bson(d.registered_at),
            updated_at: to_bson(d.updated_at),
        }
    }
}

impl TryFrom<DeviceRecord> for Device {
    type Error = ValidationError;
    fn try_from(r: DeviceRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            device_id: r.device_id,
            name: r.name,
            device_type: r.device_type,
            location: r.location,
            specifications: r.specifications,
            status: r.status,
            auto_registered: r.auto_registered,
            registered_at: to_timestamp(r.registered_at)?,
            updated_at: to_timestamp(r.updated_at)?,
        })
    }
}
