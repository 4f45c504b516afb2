//! The fence around the store's Query reads (shared/src/store/wire.rs), against DynamoDB Local
//! through a relay that alters its Query answers, with the functions' production client
//! (`faults::app_via`: time-outs, retry mode and attempts). A successful answer is read
//! only in DynamoDB's media type (`application/x-amz-json-1.0`): any other is an error
//! naming what came, sent once and never read as a page. An answer whose body is cut
//! mid-way is sent again by the SDK (its body is read inside the SDK's attempt), and the
//! page read from the next answer costs what a page costs; cut on every attempt, it is a
//! 503 like any DynamoDB that cannot be reached. Both readers (`--features sdk-reader` or
//! not) are held to the same answers.

use std::io::{BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use integration_tests::apigw::{Reply, event, invoke};
use integration_tests::http1::read_message;
use integration_tests::{dynamodb, faults, seeded_app};
use serde_json::{Value, json};
use shared::client::MAX_ATTEMPTS;
use shared::error::StoreError;
use shared::http::App;
use shared::store::ListQuery;
use tokio::sync::OnceCell;

/// The demo data in DynamoDB Local, shared by the tests here.
async fn demo() -> &'static App {
    static APP: OnceCell<App> = OnceCell::const_new();
    APP.get_or_init(|| seeded_app("fenced", &[])).await
}

/// What the relay does with one Query's answer (other operations' pass untouched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alter {
    /// DynamoDB Local's answer as it is.
    Pass,
    /// DynamoDB Local's head (its Content-Length) and half its body, then the connection
    /// closes: an answer cut mid-way.
    Cut,
    /// DynamoDB Local's answer, its Content-Type replaced by this one.
    Retype(&'static str),
}

/// A relay to DynamoDB Local (one request per connection) that alters the n-th Query's
/// answer (n from 0) as `plan(n)` says.
struct Relay {
    url: String,
    queries: Arc<AtomicUsize>,
}

impl Relay {
    fn start(plan: impl Fn(usize) -> Alter + Send + Sync + 'static) -> Relay {
        let upstream = dynamodb().endpoint.strip_prefix("http://").unwrap().to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let queries = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&queries);
        let plan = Arc::new(plan);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let (counter, plan, upstream) = (Arc::clone(&counter), Arc::clone(&plan), upstream.clone());
                std::thread::spawn(move || relay(conn, &upstream, &counter, &*plan));
            }
        });
        Relay { url, queries }
    }

    /// Query requests received so far (attempts, the SDK's retries counted).
    fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

fn relay(
    conn: TcpStream,
    upstream: &str,
    counter: &AtomicUsize,
    plan: &(dyn Fn(usize) -> Alter + Send + Sync),
) {
    let mut writer = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    let Some((head, body)) = read_message(&mut reader) else {
        return;
    };
    let is_query = header(&head, "x-amz-target").is_some_and(|t| t.ends_with(".Query"));
    let alter = if is_query {
        plan(counter.fetch_add(1, Ordering::SeqCst))
    } else {
        Alter::Pass
    };
    let Some((answer_head, answer_body)) = forward(upstream, &head, &body) else {
        return;
    };
    let mut out = Vec::new();
    for line in &answer_head {
        let name = line.split_once(':').map(|(n, _)| n.trim().to_ascii_lowercase());
        match (name.as_deref(), alter) {
            (Some("connection"), _) => continue,
            (Some("content-type"), Alter::Retype(content_type)) => {
                out.extend_from_slice(format!("Content-Type: {content_type}").as_bytes());
            }
            _ => out.extend_from_slice(line.as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    let sent = if alter == Alter::Cut {
        answer_body.len() / 2
    } else {
        answer_body.len()
    };
    out.extend_from_slice(&answer_body[..sent]);
    let _ = writer.write_all(&out);
    let _ = writer.flush();
    let _ = writer.shutdown(Shutdown::Both);
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The request sent to DynamoDB Local on a connection of its own; its answer's head and body.
fn forward(upstream: &str, head: &[String], body: &[u8]) -> Option<(Vec<String>, Vec<u8>)> {
    let mut up = TcpStream::connect(upstream).ok()?;
    let mut request = Vec::new();
    for line in head
        .iter()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
    {
        request.extend_from_slice(line.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"Connection: close\r\n\r\n");
    request.extend_from_slice(body);
    up.write_all(&request).ok()?;
    read_message(&mut BufReader::new(up))
}

/// Requests whose answers read Query pages: the inbox (one Query), the newest messages
/// (one Query), an older page (a GetItem, then a Query).
const REQUESTS: [&str; 3] = [
    "/api/get-conversations.php?status=pending_human",
    "/api/conversations/1/messages?limit=5",
    "/api/get-conversation-messages.php?id=1&offset=20&limit=5",
];

fn without_server_time(reply: &Reply) -> Value {
    let mut body = reply.body.clone();
    body.as_object_mut().unwrap().remove("server_time");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_cut_mid_way_is_sent_again_once_and_the_page_is_whole() {
    for url in REQUESTS {
        // The first Query's answer is cut, the others pass.
        let relay = Relay::start(|n| if n == 0 { Alter::Cut } else { Alter::Pass });
        let app = faults::app_via(demo().await, &relay.url).await;
        let direct = invoke(demo().await, &event("GET", url)).await;
        let reply = invoke(&app, &event("GET", url)).await;
        assert_eq!(reply.status, 200, "{url}: {}", reply.body);
        assert_eq!(without_server_time(&reply), without_server_time(&direct), "{url}");
        assert_eq!(
            relay.queries(),
            2,
            "{url}: the cut answer's Query was sent again, once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_read_after_a_cut_answer_costs_what_the_page_costs() {
    let relay = Relay::start(|n| if n == 0 { Alter::Cut } else { Alter::Pass });
    let app = faults::app_via(demo().await, &relay.url).await;
    let query = ListQuery {
        waiting: false,
        status: None,
        limit: 20,
        after: None,
    };
    let direct = demo().await.store.list_conversations(query).await.unwrap();
    let page = app.store.list_conversations(query).await.unwrap();
    assert_eq!(page.conversations, direct.conversations);
    assert_eq!(page.next, direct.next);
    assert_eq!(relay.queries(), 2);
    // One request of the store's (the SDK's second attempt is part of it), the items and
    // units of the answer read; the cut answer's were never read.
    let cost =
        |c: &shared::store::ReadCost| (c.round_trips, c.sequential_trips, c.items_read, c.capacity_units);
    assert_eq!(cost(&page.cost), cost(&direct.cost));
    assert_eq!(
        (page.cost.round_trips, page.cost.items_read),
        (1, 21),
        "{:?}",
        page.cost
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_cut_on_every_attempt_is_a_503_after_the_sdks_attempts() {
    for url in REQUESTS {
        let relay = Relay::start(|_| Alter::Cut);
        let app = faults::app_via(demo().await, &relay.url).await;
        let reply = invoke(&app, &event("GET", url)).await;
        assert_eq!(reply.status, 503, "{url}: {}", reply.body);
        assert_eq!(reply.header("retry-after"), Some("1"), "{url}");
        assert_eq!(reply.body["code"], json!("unavailable"), "{url}");
        assert_eq!(relay.queries(), MAX_ATTEMPTS as usize, "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_in_another_media_type_is_refused_once_naming_it() {
    for content_type in [
        "application/json",
        "text/html; charset=utf-8",
        "application/x-amz-json-1.1",
    ] {
        let relay = Relay::start(move |_| Alter::Retype(content_type));
        let app = faults::app_via(demo().await, &relay.url).await;
        for url in REQUESTS {
            let before = relay.queries();
            let reply = invoke(&app, &event("GET", url)).await;
            assert_eq!(reply.status, 500, "{url} as {content_type}: {}", reply.body);
            assert_eq!(reply.body["code"], json!("internal"));
            assert!(
                !reply.body.to_string().contains(content_type),
                "the client is told nothing of the cause: {}",
                reply.body
            );
            assert_eq!(
                relay.queries() - before,
                1,
                "{url} as {content_type}: not retried"
            );
        }
        let failed = app
            .store
            .list_conversations(ListQuery {
                waiting: false,
                status: None,
                limit: 5,
                after: None,
            })
            .await
            .unwrap_err();
        let StoreError::Dynamo(message) = &failed.error else {
            panic!("{content_type}: {failed:?}");
        };
        assert!(
            message.contains(&format!("{content_type:?}")),
            "names what came: {message}"
        );
        assert!(message.contains("application/x-amz-json-1.0"), "{message}");
        assert_eq!((failed.cost.round_trips, failed.cost.items_read), (1, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_locals_own_answers_pass_the_fence() {
    let relay = Relay::start(|_| Alter::Pass);
    let app = faults::app_via(demo().await, &relay.url).await;
    for url in REQUESTS {
        let direct = invoke(demo().await, &event("GET", url)).await;
        let reply = invoke(&app, &event("GET", url)).await;
        assert_eq!(reply.status, 200, "{url}: {}", reply.body);
        assert_eq!(without_server_time(&reply), without_server_time(&direct), "{url}");
    }
    assert_eq!(relay.queries(), REQUESTS.len());
}
