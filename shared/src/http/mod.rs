//! The request/response layer both functions share: parse and validate → call the
//! store → render the contract's JSON. Each function's `main` lists its routes
//! (`routes`) and hands them to `run`.

mod conversations;
mod counts;
// Hands the runtime JSON it wrote itself without parsing it again (SAFETY notes there).
#[allow(unsafe_code)]
pub mod event;
mod messages;
pub mod params;
mod polling;
// Defines the C symbol `pow` (`#[unsafe(no_mangle)]`; SAFETY note there).
#[allow(unsafe_code)]
mod pow;
pub mod request;
pub mod response;
pub mod routes;
mod stats;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::http::{Method, Response};
use lambda_runtime::{Context, LambdaEvent, service_fn};

use crate::Store;
use crate::access::Access;
use crate::config::Config;
use crate::store::ReadCost;
pub use event::HttpEvent;
pub use polling::POLL_LIMIT;
pub use request::Request;
use response::{ApiError, EscapedJson};
pub use routes::{Handler, Routes};

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

/// A function's whole life: init once — logging, configuration (a bad value stops it with
/// a message naming the variable), the SDK client — then serve `routes` until Lambda
/// stops the process. No network call before the first request.
pub async fn run(routes: Routes) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env().unwrap_or_else(|e| {
        // Lambda reports the exit as Runtime.ExitError with this line in the log.
        eprintln!("configuration error: {e}");
        std::process::exit(1);
    });
    let app = App::from_config(config).await;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<HttpEvent>| async move {
        Ok::<_, Infallible>(answer(app, routes, event.payload, Some(event.context)).await)
    }))
    .await
}

/// One API Gateway event, start to end, answered as what the runtime loop serializes for
/// the Runtime API (`event::into_api_gateway_json`): what `run` serves, and what
/// `make profile` measures.
pub async fn answer(
    app: &App,
    routes: Routes,
    event: HttpEvent,
    context: Option<Context>,
) -> event::ApiGatewayJson {
    event::into_api_gateway_json(respond(app, routes, event, context).await)
}

/// One API Gateway event, start to end, as the runtime loop serves it (`answer`), answered
/// as the `ApiGatewayV2httpResponse` API Gateway reads: for the tests, which call the
/// handlers in process and read the answer's fields.
pub async fn handle(
    app: &App,
    routes: Routes,
    event: HttpEvent,
    context: Option<Context>,
) -> ApiGatewayV2httpResponse {
    event::into_api_gateway(respond(app, routes, event, context).await)
}

/// One API Gateway event: the request, the endpoint's answer, one access log line. Every
/// event gets a contract answer; nothing here panics on client input.
async fn respond(
    app: &App,
    routes: Routes,
    event: HttpEvent,
    context: Option<Context>,
) -> Response<EscapedJson> {
    let started = Instant::now();
    let route = event.route_key().to_string();
    let mut event = event;
    let headers = event.headers.take().unwrap_or_default();
    let req = event.into_request(context.map(|c| c.request_id).unwrap_or_default());
    // Before anything else, DynamoDB included: a request the access mode refuses costs
    // nothing but this answer.
    let admitted = app.config.access.admits(headers.secret.as_deref());
    let handler = routes::handler_for(routes, &req.path);
    let (response, cost) = match handler {
        Some(handler) if admitted => serve(app, handler, &req).await,
        Some(handler) => (
            response::error(handler.legacy_error, &ApiError::forbidden()),
            None,
        ),
        None => (response::error("", &ApiError::not_found("no route")), None),
    };
    // The front's name for the signed-in user (an agent, never a customer), only when the
    // front's secret vouches for it; bounded, as the header is client input elsewhere.
    let user = match (&app.config.access, admitted) {
        (Access::Front(_), true) => headers.user.as_deref().map(bounded),
        _ => None,
    };
    // One line per request, at INFO: the route (never the raw path or query, which carry
    // client input), status, latency and what DynamoDB was asked. No phone number, name
    // or message text, ever.
    let cost = cost.unwrap_or_default();
    tracing::info!(
        request_id = %req.request_id,
        method = %req.method,
        route = %route,
        handler = handler.map_or("", |h| h.name),
        user = user.unwrap_or_default(),
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

/// At most the first 64 characters of a header value, for the log.
fn bounded(value: &str) -> &str {
    value
        .char_indices()
        .nth(64)
        .and_then(|(end, _)| value.get(..end))
        .unwrap_or(value)
}

/// A handled request: the response, and what it cost in DynamoDB.
type Handled = (Response<EscapedJson>, Option<ReadCost>);

/// Everything one request may spend waiting on DynamoDB. Each operation is bounded by
/// `client::OPERATION_TIMEOUT` (4 s, retries included) and a message page may need two
/// operations; this bound answers 503 at 6 s whatever happens, well inside the
/// functions' 10 s Lambda timeout, rather than letting Lambda kill the invocation.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(6);

async fn serve(app: &App, handler: Handler, req: &Request) -> Handled {
    let result = if req.method != Method::GET {
        Err((ApiError::method_not_allowed(), None))
    } else {
        // Boxed by the handler: the nested futures of the SDK calls make a type too deep for
        // rustc's layout computation in release builds ("queries overflow the depth limit").
        match tokio::time::timeout(REQUEST_DEADLINE, handler.serve(app, req)).await {
            Ok(result) => result,
            // The requests in flight are dropped with the future, and what they had cost
            // with them: DynamoDB answered none of them.
            Err(_) => Err(store_failure(crate::store::ReadError {
                error: crate::StoreError::Unavailable(format!(
                    "request deadline of {REQUEST_DEADLINE:?} reached"
                )),
                cost: ReadCost::default(),
            })),
        }
    };
    match result {
        Ok(handled) => handled,
        Err((e, cost)) => (response::error(handler.legacy_error, &e), cost),
    }
}

/// A failed request: what the client gets, and what DynamoDB was asked before it failed.
type Failure = (ApiError, Option<ReadCost>);

/// Logs a store failure with its full cause and turns it into what the client may see,
/// keeping what DynamoDB was asked before it failed for the access log.
fn store_failure(e: crate::store::ReadError) -> Failure {
    let api = ApiError::from_store(&e.error);
    if api.status.is_server_error() {
        tracing::error!(error = %e.error, code = api.code, "store failure");
    }
    (api, Some(e.cost))
}
