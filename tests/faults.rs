//! DynamoDB faults, injected by a small endpoint in front of DynamoDB Local (`harness/faults.rs`),
//! with the functions' production client: its time-outs and standard retries. Throttling
//! that passes is invisible (200); throttling that persists, an endpoint that hangs,
//! drops connections or is down are a 503 with `Retry-After`, well inside the 10 s
//! Lambda timeout, and the body never carries SDK text, connection errors or the table.
//! DynamoDB's own server errors (500, 503) are transient too: a 503, never a 500.

use std::time::{Duration, Instant};

use integration_tests::apigw::{Reply, event, invoke};
use integration_tests::faults::{self, Fault, FaultyEndpoint, refused_url};
use integration_tests::{dynamodb, seeded_app};
use serde_json::json;
use shared::client;
use shared::http::App;
use tokio::sync::OnceCell;

/// The demo data in DynamoDB Local, shared by the tests here.
async fn demo() -> &'static App {
    static APP: OnceCell<App> = OnceCell::const_new();
    APP.get_or_init(|| seeded_app("faults", &[])).await
}

/// The demo app, but talking to DynamoDB through `endpoint` (production client settings).
async fn app_via(endpoint: &str) -> App {
    faults::app_via(demo().await, endpoint).await
}

const REQUESTS: [&str; 3] = [
    "/api/get-conversations.php?status=pending_human",
    "/api/conversations/1/messages?limit=5",
    "/api/get-conversation-messages.php?id=1&offset=20&limit=5",
];

async fn timed(app: &App, url: &str) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = invoke(app, &event("GET", url)).await;
    let took = started.elapsed();
    println!("{url}: {} in {took:?}", reply.status);
    (reply, took)
}

/// The contract's 503: generic detail, `Retry-After`, nothing of the cause.
fn assert_unavailable(reply: &Reply, table: &str) {
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.body["success"], json!(false));
    assert_eq!(reply.body["code"], json!("unavailable"));
    let text = reply.body.to_string().to_lowercase();
    for leak in [
        table.to_lowercase().as_str(),
        "throughput",
        "dynamodb",
        "dispatch",
        "timeout",
        "timed out",
        "connection",
        "127.0.0.1",
        "sdk",
        "panicked",
        ".rs:",
    ] {
        assert!(!text.contains(leak), "the body leaks {leak:?}: {text}");
    }
}

/// The functions' Lambda timeout (`template.yaml`): the one bound every answer must beat.
/// Time bounds here are this generous on purpose: a loaded 2-core CI machine stretches
/// every wait, so the tests assert what happened (attempts, status, which limit ended
/// the wait) rather than how fast.
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(10);

/// DynamoDB operations each of `REQUESTS` sends: the inbox page and the newest message
/// page are one Query each; an offset page is a GetItem, then a Query.
const OPERATIONS: [usize; 3] = [1, 1, 2];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_that_passes_is_retried_into_a_200() {
    // Every other request is throttled: each operation's first attempt fails, its retry
    // reaches DynamoDB Local.
    let endpoint = FaultyEndpoint::start(&dynamodb().endpoint, |n| {
        if n % 2 == 0 { Fault::Throttle } else { Fault::Pass }
    });
    let app = app_via(&endpoint.url).await;
    for (url, operations) in REQUESTS.into_iter().zip(OPERATIONS) {
        let direct = invoke(demo().await, &event("GET", url)).await;
        let before = endpoint.requests();
        let (reply, took) = timed(&app, url).await;
        assert_eq!(reply.status, 200, "{url}: {}", reply.body);
        let strip = |r: &Reply| {
            let mut b = r.body.clone();
            b.as_object_mut().unwrap().remove("server_time");
            b
        };
        assert_eq!(strip(&reply), strip(&direct), "{url}");
        assert_eq!(
            endpoint.requests() - before,
            2 * operations,
            "{url}: each operation throttled once, then answered"
        );
        assert!(took < LAMBDA_TIMEOUT, "{url}: {took:?}");
    }
}

/// Every attempt of the first operation answered with `fault`: a 503 with `Retry-After`
/// once the SDK's attempts are used up, never a 500.
async fn persistent_fault_is_a_503_after_the_retries(fault: Fault) {
    let endpoint = FaultyEndpoint::start(&dynamodb().endpoint, move |_| fault);
    let app = app_via(&endpoint.url).await;
    let table = app.store.table_name().to_string();
    for url in REQUESTS {
        let before = endpoint.requests();
        let (reply, took) = timed(&app, url).await;
        assert_unavailable(&reply, &table);
        assert_eq!(
            endpoint.requests() - before,
            client::MAX_ATTEMPTS as usize,
            "{url} under {fault:?}: one operation, {} attempts",
            client::MAX_ATTEMPTS
        );
        assert!(took < LAMBDA_TIMEOUT, "{url}: {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_that_persists_is_a_503_after_the_retries() {
    persistent_fault_is_a_503_after_the_retries(Fault::Throttle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_server_errors_are_a_503_after_the_retries() {
    // InternalServerError (500) and ServiceUnavailable (503) are DynamoDB's transient
    // failures: retried, then "retry shortly", like throttling.
    persistent_fault_is_a_503_after_the_retries(Fault::ServerError).await;
    persistent_fault_is_a_503_after_the_retries(Fault::Unavailable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_dynamodb_does_not_retry_is_a_500_after_one_attempt() {
    let endpoint = FaultyEndpoint::start(&dynamodb().endpoint, |_| Fault::Reject);
    let app = app_via(&endpoint.url).await;
    let (reply, _) = timed(&app, REQUESTS[0]).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert_eq!(reply.body["code"], json!("internal"));
    assert_eq!(endpoint.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_is_a_503_within_the_operation_timeout() {
    let endpoint = FaultyEndpoint::start(&dynamodb().endpoint, |_| Fault::Hang);
    let app = app_via(&endpoint.url).await;
    let table = app.store.table_name().to_string();
    let (reply, took) = timed(&app, REQUESTS[1]).await;
    assert_unavailable(&reply, &table);
    // Each attempt waited its full time-out before the next; the operation time-out ended
    // the retries (no attempt can finish early: nothing ever answers).
    assert!(took >= client::ATTEMPT_TIMEOUT, "{took:?}");
    assert!(took < LAMBDA_TIMEOUT, "{took:?}");
    assert!(endpoint.requests() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_needs_two_operations_stays_inside_the_lambda_timeout() {
    // The first operation (GetItem of the conversation) succeeds, the second hangs.
    let endpoint = FaultyEndpoint::start(&dynamodb().endpoint, |n| {
        if n == 0 { Fault::Pass } else { Fault::Hang }
    });
    let app = app_via(&endpoint.url).await;
    let table = app.store.table_name().to_string();
    let (reply, took) = timed(&app, REQUESTS[2]).await;
    assert_unavailable(&reply, &table);
    assert!(took >= client::ATTEMPT_TIMEOUT, "{took:?}");
    assert!(took < LAMBDA_TIMEOUT, "inside the Lambda timeout: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_and_a_down_endpoint_are_a_503_after_the_retries() {
    let dropping = FaultyEndpoint::start(&dynamodb().endpoint, |_| Fault::Drop);
    for url in [dropping.url.clone(), refused_url()] {
        let app = app_via(&url).await;
        let table = app.store.table_name().to_string();
        for request in REQUESTS {
            let (reply, took) = timed(&app, request).await;
            assert_unavailable(&reply, &table);
            assert!(took < LAMBDA_TIMEOUT, "{request}: {took:?}");
        }
    }
    // Connection drops are retried like any transient failure: every attempt of each
    // request's first operation reached the endpoint.
    assert_eq!(
        dropping.requests(),
        REQUESTS.len() * client::MAX_ATTEMPTS as usize
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_fails_part_way_keeps_what_it_cost() {
    // An offset page: the GetItem of the conversation is answered, the Query is refused.
    let endpoint = FaultyEndpoint::refusing(&dynamodb().endpoint, "Query");
    let app = app_via(&endpoint.url).await;
    let failed = app.store.message_page(1, 20, 5).await.unwrap_err();
    assert_eq!(failed.cost.round_trips, 2, "the GetItem and the refused Query");
    assert_eq!(failed.cost.items_read, 1, "the conversation item");
    assert!(failed.cost.capacity_units > 0.0);
}
