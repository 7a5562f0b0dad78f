//! Device data: readings (`/api/device/{deviceId}/data`, paged newest first with a cursor, and
//! `.../latest`), the device's state (`.../state`, and `GET /api/device/list/all` for every
//! device), statistics (`.../statistics`, optionally bucketed) and the schedule timeline
//! (`.../timeline`). Reads go to the store; the control layers' live state comes from the engine.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use praan_core::{
    domain::{Device, PreClean, Timestamp},
    store::{BucketWidth, Cursor, Limit, ReadingQuery, StatsQuery, TimeRange},
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    dto::{DeviceStateDto, ReadingDto, ReadingPageDto, StatisticsDto, TimelineDto},
    envelope::{self, Envelope, ListEnvelope},
    error::{ApiError, ErrorBody},
    extract::{PathParam, QueryParams},
    registry_cache::Lookup,
    routes::control::device_id,
    state::AppState,
};

/// The longest statistics range: 366 days (as `hours`: 8784).
pub(crate) const MAX_STATS_SPAN: Duration = Duration::from_secs(366 * 24 * 60 * 60);
/// The statistics range when neither `hours` nor `startDate` is given: the last 24 hours.
pub(crate) const DEFAULT_STATS_HOURS: u32 = 24;
/// The most buckets a statistics range may be cut into.
pub(crate) const MAX_BUCKETS: i64 = 10_000;
/// The longest timeline preview: 31 days.
pub(crate) const MAX_TIMELINE_SPAN: Duration = Duration::from_secs(31 * 24 * 60 * 60);
/// The timeline preview when `to` is not given: 7 days from `from`.
pub(crate) const DEFAULT_TIMELINE_SPAN: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Query parameters of `GET /api/device/{deviceId}/data`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct DataQuery {
    /// Readings per page, an integer from 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Only readings at or after this instant (RFC 3339, e.g. `2026-11-28T09:00:00Z`; encode `+`
    /// as `%2B`).
    start_date: Option<String>,
    /// Only readings before this instant (RFC 3339, exclusive).
    end_date: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// Query parameters of `GET /api/device/{deviceId}/statistics`: either `hours`, or a range.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct StatisticsQuery {
    /// The last this many hours, an integer from 1 to 8784 (default 24 when no range is given).
    /// Not together with `startDate`/`endDate`.
    #[param(minimum = 1, maximum = 8784)]
    hours: Option<u32>,
    /// Start of the range (RFC 3339, inclusive). At most 366 days before `endDate`.
    start_date: Option<String>,
    /// End of the range (RFC 3339, exclusive; default now). Needs `startDate`.
    end_date: Option<String>,
    /// Also return a series of buckets of this width: `<n>s`, `<n>m`, `<n>h` or `<n>d` (e.g.
    /// `5m`, `1h`, `1d`; 1 s to 31 d, at most 10000 buckets in the range). Buckets are aligned to
    /// the Unix epoch in UTC.
    bucket: Option<String>,
}

/// Query parameters of `GET /api/device/{deviceId}/timeline`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct TimelineQuery {
    /// Start (RFC 3339, inclusive; default now).
    from: Option<String>,
    /// End (RFC 3339, exclusive; default 7 days after `from`). At most 31 days after `from`.
    to: Option<String>,
}

/// A page of a device's readings, newest first.
#[utoipa::path(get, path = "/api/device/{deviceId}/data", tag = "devices",
    params(("deviceId" = String, Path, description = "The device"), DataQuery),
    responses(
        (status = 200, description = "The readings, newest first, with the cursor of the next page", body = ReadingPageDto),
        (status = 400, description = "An invalid deviceId, limit, startDate, endDate or cursor", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn data(
    State(state): State<AppState>,
    PathParam(raw): PathParam<String>,
    QueryParams(query): QueryParams<DataQuery>,
) -> Result<Response, ApiError> {
    let device = registered(&state, &raw).await?;
    let range = TimeRange::new(
        instant("startDate", query.start_date.as_deref())?,
        instant("endDate", query.end_date.as_deref())?,
    )?;
    let cursor = query
        .cursor
        .as_deref()
        .map(str::parse::<Cursor>)
        .transpose()?;
    let reading_query = ReadingQuery {
        range,
        limit: limit(query.limit)?,
        cursor,
    };
    let page = state
        .store()
        .readings(&device.device_id, &reading_query)
        .await?;
    let data: Vec<ReadingDto> = page.items.iter().map(ReadingDto::from).collect();
    Ok(Json(ReadingPageDto {
        success: true,
        count: data.len(),
        data,
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    })
    .into_response())
}

/// A device's newest reading (by device timestamp).
#[utoipa::path(get, path = "/api/device/{deviceId}/latest", tag = "devices",
    params(("deviceId" = String, Path, description = "The device")),
    responses(
        (status = 200, description = "The newest reading", body = Envelope<ReadingDto>),
        (status = 400, description = "An invalid deviceId", body = ErrorBody),
        (status = 404, description = "Unknown device, or no reading yet (`details.entity` is \
            `device` or `reading`)", body = ErrorBody)))]
pub(crate) async fn latest(
    State(state): State<AppState>,
    PathParam(raw): PathParam<String>,
) -> Result<Response, ApiError> {
    let device = registered(&state, &raw).await?;
    let reading = state
        .store()
        .latest_reading(&device.device_id)
        .await?
        .ok_or_else(|| ApiError::not_found("reading", device.device_id.as_str()))?;
    Ok(envelope::ok(StatusCode::OK, ReadingDto::from(&reading)))
}

/// A device's state.
///
/// Reported power and speed, presence, the effective desired state with its source, the active
/// pre-clean and schedule windows, the latest reading.
#[utoipa::path(get, path = "/api/device/{deviceId}/state", tag = "devices",
    params(("deviceId" = String, Path, description = "The device")),
    responses(
        (status = 200, description = "The state", body = Envelope<DeviceStateDto>),
        (status = 400, description = "An invalid deviceId", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn device_state(
    State(state): State<AppState>,
    PathParam(raw): PathParam<String>,
) -> Result<Response, ApiError> {
    let device = registered(&state, &raw).await?;
    let id = &device.device_id;
    let observed = state.store().device_state(id).await?;
    let control = state.engine().control(id.clone()).await?;
    let pre_clean = match control.as_ref().and_then(|c| c.active_pre_clean) {
        Some(pre_clean_id) => state.store().get_pre_clean(pre_clean_id).await?,
        None => None,
    };
    Ok(envelope::ok(
        StatusCode::OK,
        DeviceStateDto::new(
            &device,
            observed.as_ref(),
            control.as_ref(),
            pre_clean.as_ref(),
            state.clock().now(),
        ),
    ))
}

/// Every registered device with its state (as `.../state`), by id.
#[utoipa::path(get, path = "/api/device/list/all", tag = "devices",
    responses(
        (status = 200, description = "Every device with its state", body = ListEnvelope<DeviceStateDto>)))]
pub(crate) async fn list_all(State(state): State<AppState>) -> Result<Response, ApiError> {
    let devices = state.store().list_devices(&Default::default()).await?;
    let mut observed: HashMap<_, _> = state
        .store()
        .device_states()
        .await?
        .into_iter()
        .map(|s| (s.device_id.clone(), s))
        .collect();
    let mut controls: HashMap<_, _> = state
        .store()
        .control_states()
        .await?
        .into_iter()
        .map(|c| (c.device_id.clone(), c))
        .collect();
    let mut pre_cleans: HashMap<_, PreClean> = state
        .store()
        .active_pre_cleans()
        .await?
        .into_iter()
        .map(|p| (p.device_id.clone(), p))
        .collect();
    let now = state.clock().now();
    let items = devices
        .iter()
        .map(|d| {
            let id = &d.device_id;
            DeviceStateDto::new(
                d,
                observed.remove(id).as_ref(),
                controls.remove(id).as_ref(),
                pre_cleans.remove(id).as_ref(),
                now,
            )
        })
        .collect();
    Ok(envelope::list(items))
}

/// Statistics of a device's readings.
///
/// Minimum, maximum, average and count of every metric over the last `hours` or a range, and
/// with `bucket` a series of the same per bucket (for charts). Computed by the store.
#[utoipa::path(get, path = "/api/device/{deviceId}/statistics", tag = "devices",
    params(("deviceId" = String, Path, description = "The device"), StatisticsQuery),
    responses(
        (status = 200, description = "The statistics", body = Envelope<StatisticsDto>),
        (status = 400, description = "An invalid deviceId, hours, startDate, endDate or bucket; \
            hours together with a range; a range over 366 days or over 10000 buckets", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn statistics(
    State(state): State<AppState>,
    PathParam(raw): PathParam<String>,
    QueryParams(query): QueryParams<StatisticsQuery>,
) -> Result<Response, ApiError> {
    let device = registered(&state, &raw).await?;
    let now = state.clock().now();
    let start = instant("startDate", query.start_date.as_deref())?;
    let end = instant("endDate", query.end_date.as_deref())?;
    let (start, end) = match (query.hours, start, end) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(ApiError::invalid_field(
                "hours",
                "give either hours or startDate/endDate, not both",
            ));
        }
        (_, None, Some(_)) => {
            return Err(ApiError::invalid_field(
                "startDate",
                "is required with endDate",
            ));
        }
        (hours, None, None) => {
            let hours = hours.unwrap_or(DEFAULT_STATS_HOURS);
            if !(1..=8784).contains(&hours) {
                return Err(ApiError::invalid_field(
                    "hours",
                    "must be an integer from 1 to 8784",
                ));
            }
            let span = Duration::from_secs(u64::from(hours) * 3600);
            (now.saturating_sub(span), now)
        }
        (None, Some(start), end) => {
            let end = end.unwrap_or(now);
            TimeRange::new(Some(start), Some(end))?;
            if end.saturating_duration_since(start) > MAX_STATS_SPAN {
                return Err(ApiError::invalid_field(
                    "endDate",
                    "the range must be at most 366 days",
                ));
            }
            (start, end)
        }
    };
    let bucket = query
        .bucket
        .as_deref()
        .map(str::parse::<BucketWidth>)
        .transpose()?;
    if let Some(width) = bucket {
        let span = end.unix_millis().saturating_sub(start.unix_millis());
        if span / width.millis() >= MAX_BUCKETS {
            return Err(ApiError::invalid_field(
                "bucket",
                format!("is too narrow for the range (at most {MAX_BUCKETS} buckets)"),
            ));
        }
    }
    let stats = state
        .store()
        .statistics(&device.device_id, &StatsQuery { start, end, bucket })
        .await?;
    Ok(envelope::ok(
        StatusCode::OK,
        StatisticsDto::new(&device.device_id, &stats, bucket),
    ))
}

/// A device's schedule timeline.
///
/// What the device's enabled schedules will make it do between `from` and `to` (at most 31
/// days): the intervals in which a schedule decides, with their speed and schedule.
#[utoipa::path(get, path = "/api/device/{deviceId}/timeline", tag = "devices",
    params(("deviceId" = String, Path, description = "The device"), TimelineQuery),
    responses(
        (status = 200, description = "The planned intervals", body = Envelope<TimelineDto>),
        (status = 400, description = "An invalid deviceId, from or to; to not after from; a span \
            over 31 days", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn timeline(
    State(state): State<AppState>,
    PathParam(raw): PathParam<String>,
    QueryParams(query): QueryParams<TimelineQuery>,
) -> Result<Response, ApiError> {
    let device = registered(&state, &raw).await?;
    let from = instant("from", query.from.as_deref())?.unwrap_or_else(|| state.clock().now());
    let to = instant("to", query.to.as_deref())?
        .unwrap_or_else(|| from.saturating_add(DEFAULT_TIMELINE_SPAN));
    if to <= from {
        return Err(ApiError::invalid_field("to", "must be after from"));
    }
    if to.saturating_duration_since(from) > MAX_TIMELINE_SPAN {
        return Err(ApiError::invalid_field(
            "to",
            "must be at most 31 days after from",
        ));
    }
    let intervals = state
        .engine()
        .timeline(device.device_id.clone(), from, to)
        .await?;
    Ok(envelope::ok(
        StatusCode::OK,
        TimelineDto {
            device_id: device.device_id.to_string(),
            from: from.to_rfc3339(),
            to: to.to_rfc3339(),
            intervals: intervals.iter().map(Into::into).collect(),
        },
    ))
}

/// The registered device `raw` names: 400 naming `deviceId` when it is not a device id, 404 when
/// it is not registered. Answered from the registry cache when it can be (reads only: a write
/// reads the store with [`registered_in_store`]).
pub(crate) async fn registered(state: &AppState, raw: &str) -> Result<Arc<Device>, ApiError> {
    let id = device_id(raw)?;
    let cache = state.registry();
    let ticket = match cache.get(&id, state.engine().registry_epoch(), state.clock().now()) {
        Lookup::Hit(device) => return Ok(device),
        Lookup::Miss(ticket) => ticket,
    };
    let device = Arc::new(
        state
            .store()
            .get_device(&id)
            .await?
            .ok_or_else(|| ApiError::not_found("device", id.as_str()))?,
    );
    cache.fill(&device, ticket, state.engine().registry_epoch());
    Ok(device)
}

/// As [`registered`], always from the store: what a registry write starts from.
pub(crate) async fn registered_in_store(state: &AppState, raw: &str) -> Result<Device, ApiError> {
    let id = device_id(raw)?;
    state
        .store()
        .get_device(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("device", id.as_str()))
}

/// The page size asked for (default 100), or a 400 naming `limit`.
pub(crate) fn limit(n: Option<u32>) -> Result<Limit, ApiError> {
    n.map_or_else(|| Ok(Limit::default()), |n| Ok(Limit::new(n)?))
}

/// An RFC 3339 query parameter, or a 400 naming `field`. An offset whose `+` arrived decoded as a
/// space (an unencoded `+` in a query string) is read as `+`.
pub(crate) fn instant(
    field: &'static str,
    raw: Option<&str>,
) -> Result<Option<Timestamp>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let repaired = match raw.rsplit_once(' ') {
        Some((head, offset))
            if offset.len() == 5
                && offset.as_bytes()[2] == b':'
                && offset.bytes().filter(u8::is_ascii_digit).count() == 4 =>
        {
            Some(format!("{head}+{offset}"))
        }
        _ => None,
    };
    Timestamp::parse_rfc3339(repaired.as_deref().unwrap_or(raw))
        .map(Some)
        .map_err(|e| e.in_field(field).into())
}
