//! A fault-injecting DynamoDB endpoint: a small HTTP/1.1 server in front of DynamoDB Local that,
//! per request, answers as DynamoDB does when it throttles, holds the request without
//! answering, closes the connection, or passes the request to DynamoDB Local. Fault injection only:
//! every answer that is not a fault comes from the real DynamoDB API behind it.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::http1::read_message;

/// What the endpoint does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 400 with DynamoDB's ProvisionedThroughputExceededException body.
    Throttle,
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
}

impl FaultyEndpoint {
    /// Starts the endpoint; `plan(n)` decides the fault for the n-th request (0-based).
    pub fn start(upstream: &str, plan: impl Fn(usize) -> Fault + Send + Sync + 'static) -> FaultyEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the faulty endpoint");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// upstream")
            .to_string();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let plan = Arc::new(plan);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let (counter, plan, upstream) = (Arc::clone(&counter), Arc::clone(&plan), upstream.clone());
                std::thread::spawn(move || serve(conn, &upstream, &counter, &*plan));
            }
        });
        FaultyEndpoint { url, requests }
    }

    /// Requests received so far (attempts, counting the SDK's retries).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
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

fn serve(
    conn: TcpStream,
    upstream: &str,
    counter: &AtomicUsize,
    plan: &(dyn Fn(usize) -> Fault + Send + Sync),
) {
    let mut writer = conn.try_clone().expect("clone the connection");
    let mut reader = BufReader::new(conn);
    while let Some((head, body)) = read_message(&mut reader) {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        match plan(n) {
            Fault::Throttle => {
                let response = format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\n\
                     x-amzn-RequestId: FAULT{n}\r\nContent-Length: {}\r\n\r\n{THROTTLED}",
                    THROTTLED.len()
                );
                if writer.write_all(response.as_bytes()).is_err() {
                    return;
                }
            }
            Fault::Hang => {
                // Hold the connection until the client gives up and closes it.
                let mut sink = [0u8; 1];
                let _ = reader.get_mut().set_read_timeout(Some(Duration::from_secs(60)));
                let _ = reader.read(&mut sink);
                return;
            }
            Fault::Drop => return,
            Fault::Pass => {
                let Some(answer) = forward(upstream, &head, &body) else {
                    return;
                };
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
