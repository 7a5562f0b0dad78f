//! Every route of PRODUCT.md §7, grouped by area, collected with their OpenAPI descriptions
//! (utoipa-axum): the document served at `/api/openapi.json` and the route index at `/` are
//! generated from the handlers themselves, so they cannot drift from what is served.

pub(crate) mod commands;
pub(crate) mod control;
pub(crate) mod devices;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod preclean;
pub(crate) mod registry;
pub(crate) mod schedules;

use std::sync::Arc;

use axum::Router;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self, ObjectBuilder, RefOr, SchemaFormat, Type,
        path::ParameterIn,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// The document's fixed parts: title, description, tags, the bearer scheme.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "praan",
        description = "The REST API of praan: telemetry, commands, schedules, pre-cleans and \
                       device state for a fleet of MQTT air purifiers. Success bodies are \
                       `{\"success\":true,\"data\":…}` (lists add `count`); errors are \
                       `{\"success\":false,\"error\",\"code\",\"details\"}`."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness, readiness, metrics and this document"),
        (name = "control", description = "Power and fan commands"),
        (name = "events", description = "Live events (Server-Sent Events)"),
        (name = "schedules", description = "Weekly, daily and cron schedules, their tests and run history"),
        (name = "preclean", description = "Pre-clean: temporary fan overrides that restore when they end"),
        (name = "devices", description = "Device data: readings, state, statistics, schedule timeline"),
        (name = "commands", description = "Command history and delivery status"),
        (name = "registry", description = "The device registry"),
    )
)]
struct ApiDoc;

/// Declares the optional `Authorization: Bearer <key>` scheme.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The routes, and their OpenAPI document with the syntax of every id in a path.
pub(crate) fn split() -> (Router<AppState>, openapi::OpenApi) {
    let (routes, mut doc) = api().split_for_parts();
    describe_path_ids(&mut doc);
    (routes, doc)
}

/// Gives each path parameter that names a device or a record its syntax — a device id's grammar,
/// a UUID — so that clients (and API fuzzers) see what the handlers accept. `/api/schedule/{id}`
/// names a device on GET and a schedule on PUT and DELETE (PRODUCT.md §7 keeps the old paths).
fn describe_path_ids(doc: &mut openapi::OpenApi) {
    for (path, item) in &mut doc.paths.paths {
        let operations = [
            ("GET", &mut item.get),
            ("POST", &mut item.post),
            ("PUT", &mut item.put),
            ("DELETE", &mut item.delete),
        ];
        for (method, operation) in operations {
            let Some(parameters) = operation.as_mut().and_then(|o| o.parameters.as_mut()) else {
                continue;
            };
            for parameter in parameters {
                let RefOr::T(parameter) = parameter else {
                    continue;
                };
                if parameter.parameter_in != ParameterIn::Path {
                    continue;
                }
                let device = match parameter.name.as_str() {
                    "deviceId" => true,
                    "commandId" | "preCleanId" | "scheduleId" => false,
                    "id" => method == "GET" && path == "/api/schedule/{id}",
                    _ => continue,
                };
                let schema = if device {
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(DEVICE_ID_PATTERN))
                        .max_length(Some(praan_core::domain::DEVICE_ID_MAX_LEN))
                } else {
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(SchemaFormat::Custom("uuid".to_owned())))
                };
                parameter.schema = Some(schema.build().into());
            }
        }
    }
}

/// A device id's grammar (`praan_core::domain::DeviceId`), as an ECMA-262 pattern.
const DEVICE_ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$";

/// Every route with its OpenAPI description.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::index))
        .routes(routes!(health::health))
        .routes(routes!(health::livez))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(health::openapi_json))
        .routes(routes!(control::power))
        .routes(routes!(control::fan))
        .routes(routes!(events::events))
        .routes(routes!(schedules::create))
        .routes(routes!(
            schedules::list,
            schedules::update,
            schedules::delete
        ))
        .routes(routes!(schedules::detail))
        .routes(routes!(schedules::test))
        .routes(routes!(schedules::runs))
        .routes(routes!(preclean::start))
        .routes(routes!(preclean::cancel))
        .routes(routes!(preclean::status))
        .routes(routes!(preclean::delete))
        .routes(routes!(preclean::history))
        .routes(routes!(devices::data))
        .routes(routes!(devices::latest))
        .routes(routes!(devices::device_state))
        .routes(routes!(devices::statistics))
        .routes(routes!(devices::timeline))
        .routes(routes!(devices::list_all))
        .routes(routes!(commands::device_commands))
        .routes(routes!(commands::command))
        .routes(routes!(commands::cancel))
        .routes(routes!(registry::register))
        .routes(routes!(registry::list))
        .routes(routes!(registry::active))
        .routes(routes!(
            registry::get_device,
            registry::update_device,
            registry::delete_device
        ))
        .routes(routes!(registry::config))
}

/// The generated document, served by [`health::openapi_json`] and summarised by
/// [`health::index`].
#[derive(Debug)]
pub(crate) struct Document {
    pub(crate) json: String,
    pub(crate) routes: Vec<health::RouteEntry>,
}

impl Document {
    pub(crate) fn new(doc: &openapi::OpenApi) -> Arc<Self> {
        let json = doc.to_pretty_json().unwrap_or_else(|e| {
            tracing::error!("the OpenAPI document does not serialize: {e}");
            String::from("{}")
        });
        let mut routes = Vec::new();
        for (path, item) in &doc.paths.paths {
            let operations = [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("DELETE", &item.delete),
            ];
            for (method, operation) in operations {
                if let Some(op) = operation {
                    routes.push(health::RouteEntry {
                        method: method.to_owned(),
                        path: path.clone(),
                        summary: op.summary.clone().unwrap_or_default(),
                    });
                }
            }
        }
        Arc::new(Self { json, routes })
    }
}
