//! The JSON the API answers with: one DTO per resource, built from the domain types, with the
//! field names the existing clients read (PRODUCT.md §7) plus the richer new ones. Request
//! bodies live next to their handlers.

mod command;
mod device;
mod event;
mod preclean;
mod reading;
mod schedule;
mod statistics;

pub(crate) use command::CommandDto;
pub(crate) use device::{DeviceConfigDto, DeviceDto, DeviceStateDto};
pub(crate) use event::{EVENT_NAMES, kind as event_kind, named as event_data};
pub(crate) use preclean::{PreCleanDto, PreCleanStartedDto, PreCleanStatusDto};
pub(crate) use reading::{ReadingDto, ReadingPageDto};
pub(crate) use schedule::{ScheduleDto, ScheduleRunDto, ScheduleSavedDto, ScheduleTestDto};
pub(crate) use statistics::{StatisticsDto, TimelineDto};

/// The wire name of a unit enum value (its serde string), e.g. `manual`.
pub(crate) fn wire_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
