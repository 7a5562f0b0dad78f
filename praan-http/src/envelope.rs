//! The success envelope of PRODUCT.md §7: `{"success":true,"data":…}`, and for lists
//! `{"success":true,"count":n,"data":[…]}`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// A successful answer carrying one value.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `true`.
    pub success: bool,
    /// The value.
    pub data: T,
}

/// A successful answer carrying a list.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ListEnvelope<T> {
    /// Always `true`.
    pub success: bool,
    /// How many items `data` holds.
    pub count: usize,
    /// The items.
    pub data: Vec<T>,
}

/// `data` with status `status` in the success envelope.
pub(crate) fn ok<T: Serialize>(status: StatusCode, data: T) -> Response {
    (
        status,
        Json(Envelope {
            success: true,
            data,
        }),
    )
        .into_response()
}

/// `items` in the list envelope, status 200.
pub(crate) fn list<T: Serialize>(items: Vec<T>) -> Response {
    Json(ListEnvelope {
        success: true,
        count: items.len(),
        data: items,
    })
    .into_response()
}
