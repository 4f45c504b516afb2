//! The request/response layer both functions share: parse and validate → call the
//! store → render the contract's JSON. Each function's `main` only wires one of the two
//! handlers to the Lambda runtime.

mod conversations;
mod messages;
pub mod params;
pub mod response;

use std::convert::Infallible;
use std::time::Instant;

use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response, service_fn};

use crate::Store;
use crate::config::Config;
use crate::store::ReadCost;
use response::ApiError;

/// Everything a handler needs, built once per process in `main`.
#[derive(Debug, Clone)]
pub struct App {
    pub store: Store,
    pub config: Config,
}

impl App {
    /// Builds the SDK client from the standard environment. No network call: nothing is
    /// resolved until the first request.
    pub async fn from_config(config: Config) -> App {
        let sdk = crate::client::load_sdk_config().await;
        App {
            store: Store::new(crate::client::dynamodb_client(&sdk), &config.table_name),
            config,
        }
    }
}

/// The two endpoints; their error envelopes keep the legacy PHP texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Conversations,
    Messages,
}

impl Endpoint {
    pub fn legacy_error(self) -> &'static str {
        match self {
            Endpoint::Conversations => "Error al obtener conversaciones",
            Endpoint::Messages => "Error al obtener mensajes",
        }
    }
}

/// A function's whole life: init once — logging, configuration (a bad value stops it with
/// a message naming the variable), the SDK client — then serve `endpoint` until Lambda
/// stops the process. No network call before the first request.
pub async fn run(endpoint: Endpoint) -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env().unwrap_or_else(|e| {
        // Lambda reports the exit as Runtime.ExitError with this line in the log.
        eprintln!("configuration error: {e}");
        std::process::exit(1);
    });
    let app = App::from_config(config).await;
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(serve(app, endpoint, req).await)
    }))
    .await
}

/// A handled request: the response, and what it cost in DynamoDB.
type Handled = (Response<Body>, Option<ReadCost>);

/// `GET /api/conversations` and its legacy paths.
pub async fn get_conversations(app: &App, req: Request) -> Response<Body> {
    serve(app, Endpoint::Conversations, req).await
}

/// `GET /api/conversations/{id}/messages` and its legacy `?id=` paths.
pub async fn get_conversation_messages(app: &App, req: Request) -> Response<Body> {
    serve(app, Endpoint::Messages, req).await
}

async fn serve(app: &App, endpoint: Endpoint, req: Request) -> Response<Body> {
    let started = Instant::now();
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let path = req.raw_http_path().to_string();
    let result = if req.method() != Method::GET {
        Err((ApiError::method_not_allowed(), None))
    } else {
        match endpoint {
            Endpoint::Conversations => conversations::handle(app, &req).await,
            Endpoint::Messages => messages::handle(app, &req).await,
        }
    };
    let (response, cost): Handled = match result {
        Ok(handled) => handled,
        Err((e, cost)) => (response::error(endpoint.legacy_error(), &e), cost),
    };
    // One line per request: no phone number, name or message text, ever.
    let cost = cost.unwrap_or_default();
    tracing::info!(
        request_id = %request_id,
        method = %req.method(),
        path = %path,
        status = response.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        dynamodb_round_trips = cost.round_trips,
        dynamodb_items_read = cost.items_read,
        dynamodb_rcu = cost.capacity_units,
        dynamodb_us = cost.dynamodb_time.as_micros() as u64,
        "request"
    );
    response
}

/// A failed request: what the client gets, and what DynamoDB was asked before it failed.
type Failure = (ApiError, Option<ReadCost>);

/// Logs a store failure with its full cause and turns it into what the client may see.
fn store_failure(e: crate::StoreError) -> Failure {
    let api = ApiError::from_store(&e);
    if api.status.is_server_error() {
        tracing::error!(error = %e, code = api.code, "store failure");
    }
    (api, None)
}
