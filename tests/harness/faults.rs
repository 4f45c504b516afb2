//! A fault-injecting DynamoDB endpoint: a small HTTP/1.1 server in front of DynamoDB Local that,
//! per request, answers as DynamoDB does when it throttles, holds the request without
//! answering, closes the connection, or passes the request to DynamoDB Local. Fault injection only:
//! every answer that is not a fault comes from the real DynamoDB API behind it.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::http1::read_message;

/// What the endpoint does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 400 with DynamoDB's ProvisionedThroughputExceededException body.
    Throttle,
    /// HTTP 500 with DynamoDB's InternalServerError body (the SDK retries it).
    ServerError,
    /// HTTP 503 with DynamoDB's ServiceUnavailable body (the SDK retries it).
    Unavailable,
    /// HTTP 400 ValidationException: an error the SDK does not retry.
    Reject,
    /// For a two-item TransactWriteItems: DynamoDB's answer when another transaction holds
    /// one of its items (TransactionCanceledException, reasons `[TransactionConflict,
    /// None]`); nothing is written. DynamoDB Local runs transactions one at a time, so it
    /// never answers this itself.
    TransactionConflict,
    /// Reads the request and never answers (the connection stays open).
    Hang,
    /// Reads the request and closes the connection without a response.
    Drop,
    /// Forwards the request to DynamoDB Local and relays its answer.
    Pass,
}

pub struct FaultyEndpoint {
    pub url: String,
    requests: Arc<AtomicUsize>,
    forwarded_nanos: Arc<AtomicU64>,
}

impl FaultyEndpoint {
    /// Starts the endpoint; `plan(n)` decides the fault for the n-th request (0-based).
    pub fn start(upstream: &str, plan: impl Fn(usize) -> Fault + Send + Sync + 'static) -> FaultyEndpoint {
        FaultyEndpoint::start_per_operation(upstream, move |n, _, _| plan(n))
    }

    /// Starts the endpoint; `plan(n, operation, body)` decides the fault for the n-th
    /// request (0-based), which calls `operation` (`GetItem`, `Query`, `BatchWriteItem`, ...)
    /// with the JSON `body`. The plan may block: that request waits, the others go on.
    pub fn start_per_operation(
        upstream: &str,
        plan: impl Fn(usize, &str, &[u8]) -> Fault + Send + Sync + 'static,
    ) -> FaultyEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the faulty endpoint");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// upstream")
            .to_string();
        let requests = Arc::new(AtomicUsize::new(0));
        let forwarded_nanos = Arc::new(AtomicU64::new(0));
        let (counter, waited) = (Arc::clone(&requests), Arc::clone(&forwarded_nanos));
        let plan = Arc::new(plan);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let (counter, waited, plan, upstream) = (
                    Arc::clone(&counter),
                    Arc::clone(&waited),
                    Arc::clone(&plan),
                    upstream.clone(),
                );
                std::thread::spawn(move || serve(conn, &upstream, &counter, &waited, &*plan));
            }
        });
        FaultyEndpoint {
            url,
            requests,
            forwarded_nanos,
        }
    }

    /// A plain relay to DynamoDB Local that times it: `forwarded_time` is how long the
    /// client's requests spent beyond this endpoint (what `make bench` subtracts from an
    /// invocation as DynamoDB's share, measured outside the function).
    pub fn timing(upstream: &str) -> FaultyEndpoint {
        FaultyEndpoint::start(upstream, |_| Fault::Pass)
    }

    /// Refuses every request that calls `operation` (an error the SDK does not retry) and
    /// passes the others: a request path or an import failing part-way.
    pub fn refusing(upstream: &str, operation: &'static str) -> FaultyEndpoint {
        FaultyEndpoint::start_per_operation(upstream, move |_, op, _| {
            if op == operation {
                Fault::Reject
            } else {
                Fault::Pass
            }
        })
    }

    /// Requests received so far (attempts, counting the SDK's retries).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Time spent so far on the forwarded requests, from the whole request read to its
    /// answer in hand (before writing it back): DynamoDB's share, seen from outside.
    pub fn forwarded_time(&self) -> Duration {
        Duration::from_nanos(self.forwarded_nanos.load(Ordering::SeqCst))
    }
}

/// `app`, but talking to DynamoDB through `endpoint` with the production client
/// configuration (`shared::client::config_loader`: time-outs, retry mode and attempts).
pub async fn app_via(app: &shared::http::App, endpoint: &str) -> shared::http::App {
    let sdk = shared::client::config_loader()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    shared::http::App {
        store: shared::Store::new(shared::client::dynamodb_client(&sdk), app.store.table_name()),
        config: app.config.clone(),
    }
}

/// An endpoint nothing listens on: connections are refused.
pub fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

const THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."}"#;
const SERVER_ERROR: &str =
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#;
const UNAVAILABLE: &str =
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ServiceUnavailable","message":"Service unavailable"}"#;
const CONFLICT: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"}],"Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None]"}"#;
const REJECTED: &str = r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"Rejected by the fault injector"}"#;

/// The operation a request calls, from its `X-Amz-Target: DynamoDB_20120810.<Operation>`.
fn operation(head: &[String]) -> String {
    head.iter()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim().eq_ignore_ascii_case("x-amz-target").then(|| {
                let value = value.trim();
                value.rsplit('.').next().unwrap_or(value).to_string()
            })
        })
        .unwrap_or_default()
}

fn serve(
    conn: TcpStream,
    upstream: &str,
    counter: &AtomicUsize,
    waited: &AtomicU64,
    plan: &(dyn Fn(usize, &str, &[u8]) -> Fault + Send + Sync),
) {
    // Answers are written in one piece, but no delayed-ACK stall may be timed as anyone's.
    let _ = conn.set_nodelay(true);
    let mut writer = conn.try_clone().expect("clone the connection");
    let mut reader = BufReader::new(conn);
    while let Some((head, body)) = read_message(&mut reader) {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let answer = |status: &str, body: &str| {
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\n\
                 x-amzn-RequestId: FAULT{n}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        let fault = plan(n, &operation(&head), &body);
        let canned = match fault {
            Fault::Throttle => Some(answer("400 Bad Request", THROTTLED)),
            Fault::ServerError => Some(answer("500 Internal Server Error", SERVER_ERROR)),
            Fault::Unavailable => Some(answer("503 Service Unavailable", UNAVAILABLE)),
            Fault::Reject => Some(answer("400 Bad Request", REJECTED)),
            Fault::TransactionConflict => Some(answer("400 Bad Request", CONFLICT)),
            _ => None,
        };
        if let Some(response) = canned {
            if writer.write_all(response.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        match fault {
            Fault::Hang => {
                // Hold the connection until the client gives up and closes it.
                let mut sink = [0u8; 1];
                let _ = reader.get_mut().set_read_timeout(Some(Duration::from_secs(60)));
                let _ = reader.read(&mut sink);
                return;
            }
            Fault::Drop => return,
            Fault::Throttle
            | Fault::ServerError
            | Fault::Unavailable
            | Fault::Reject
            | Fault::TransactionConflict => {}
            Fault::Pass => {
                let started = Instant::now();
                let Some(answer) = forward(upstream, &head, &body) else {
                    return;
                };
                // Counted before the answer is written: once the client has it, its wait is here.
                let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                waited.fetch_add(nanos, Ordering::SeqCst);
                if writer.write_all(&answer).is_err() {
                    return;
                }
            }
        }
    }
}

/// Sends the request to DynamoDB Local on a fresh connection and returns its whole response.
fn forward(upstream: &str, head: &[String], body: &[u8]) -> Option<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).ok()?;
    let _ = up.set_nodelay(true);
    let mut request = Vec::new();
    for line in head {
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        request.extend_from_slice(line.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"Connection: close\r\n\r\n");
    request.extend_from_slice(body);
    up.write_all(&request).ok()?;
    let mut reader = BufReader::new(up);
    let (head, body) = read_message(&mut reader)?;
    let mut answer = Vec::new();
    for line in head {
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        answer.extend_from_slice(line.as_bytes());
        answer.extend_from_slice(b"\r\n");
    }
    answer.extend_from_slice(b"\r\n");
    answer.extend_from_slice(&body);
    Some(answer)
}
