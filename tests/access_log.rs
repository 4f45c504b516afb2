//! The access log line, captured in-process. Alone in its test binary on purpose: tracing
//! caches each call site's interest when the call site is first hit, and a test on another
//! thread hitting the access log's call site while this one installs its subscriber could
//! leave it cached as "never" (an empty capture, seen in CI when this test shared
//! `faults`' binary).

use integration_tests::apigw::{event, invoke};
use integration_tests::faults::{self, FaultyEndpoint};
use integration_tests::{dynamodb, seeded_app};
use serde_json::json;

/// The JSON log lines `work` writes, captured in-process (a current-thread runtime, so
/// every task of the request runs on the thread that holds the subscriber).
async fn logs_of<T>(work: impl std::future::Future<Output = T>) -> (T, Vec<serde_json::Value>) {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let out = work.await;
    drop(guard);
    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    let lines = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (out, lines)
}

#[tokio::test(flavor = "current_thread")]
async fn the_access_log_of_a_failed_request_reports_what_dynamodb_was_asked() {
    let demo = seeded_app("access-log", &[]).await;
    // An offset page: the GetItem of the conversation is answered, the Query is refused.
    let endpoint = FaultyEndpoint::refusing(&dynamodb().endpoint, "Query");
    let app = faults::app_via(&demo, &endpoint.url).await;
    let url = "/api/get-conversation-messages.php?id=1&offset=20&limit=5";
    let (reply, logs) = logs_of(invoke(&app, &event("GET", url))).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    let access = logs
        .iter()
        .find(|l| l["message"] == json!("request"))
        .unwrap_or_else(|| panic!("no access log line in {logs:?}"));
    assert_eq!(access["status"], json!(500));
    assert_eq!(access["dynamodb_round_trips"], json!(2), "{access}");
    assert_eq!(access["dynamodb_items_read"], json!(1), "{access}");
    assert!(access["dynamodb_rcu"].as_f64().unwrap() > 0.0, "{access}");
}
