//! A local CloudWatch endpoint for `convo-admin sync --metrics-namespace` (the SDK's endpoint
//! override, `AWS_ENDPOINT_URL_CLOUDWATCH`): it records every call, decoding the SDK's
//! CBOR body (rpc-v2-cbor, gzip when the SDK compresses it) to JSON, and answers as
//! CloudWatch does, or with a 500 while told to fail.

use std::io::{BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::http1::{read_message, request_line};

/// One call as received.
#[derive(Debug, Clone)]
pub struct Call {
    /// `PutMetricData`, from the request's path.
    pub operation: String,
    pub body: Value,
    /// Answered with a 500.
    pub failed: bool,
}

pub struct LocalCloudWatch {
    pub url: String,
    calls: Arc<Mutex<Vec<Call>>>,
    failing: Arc<AtomicBool>,
}

impl LocalCloudWatch {
    pub fn start() -> LocalCloudWatch {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the local CloudWatch");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let failing = Arc::new(AtomicBool::new(false));
        let (recorded, fail) = (Arc::clone(&calls), Arc::clone(&failing));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let (recorded, fail) = (Arc::clone(&recorded), Arc::clone(&fail));
                std::thread::spawn(move || {
                    let Ok(mut writer) = conn.try_clone() else { return };
                    let mut reader = BufReader::new(conn);
                    while let Some((head, body)) = read_message(&mut reader) {
                        let (_, target) = request_line(&head);
                        let failed = fail.load(Ordering::SeqCst);
                        let call = Call {
                            operation: target.rsplit('/').next().unwrap_or_default().to_string(),
                            body: decode(&head, &body),
                            failed,
                        };
                        recorded.lock().unwrap_or_else(|e| e.into_inner()).push(call);
                        let (status, body): (&str, &[u8]) = if failed {
                            // {"__type": "InternalServiceFault"}
                            (
                                "500 Internal Server Error",
                                b"\xa1\x66__type\x74InternalServiceFault",
                            )
                        } else {
                            ("200 OK", b"\xa0")
                        };
                        let mut answer = format!(
                            "HTTP/1.1 {status}\r\nsmithy-protocol: rpc-v2-cbor\r\nContent-Type: application/cbor\r\n\
                             x-amzn-RequestId: local\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        answer.extend_from_slice(body);
                        if writer.write_all(&answer).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        LocalCloudWatch { url, calls, failing }
    }

    /// From now on, answer every call with a 500 (`true`) or as CloudWatch does.
    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn decode(head: &[String], body: &[u8]) -> Value {
    let gzip = head.iter().any(|h| {
        h.split_once(':')
            .is_some_and(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v.trim() == "gzip")
    });
    let mut plain = Vec::new();
    let body = if gzip {
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut plain)
            .expect("a gzip body");
        &plain[..]
    } else {
        body
    };
    let value: ciborium::Value = ciborium::from_reader(body).expect("a CBOR body");
    to_json(value)
}

/// CBOR as JSON: a tagged value (a timestamp, tag 1) as its content.
fn to_json(value: ciborium::Value) -> Value {
    use ciborium::Value as C;
    match value {
        C::Integer(i) => i128::from(i)
            .try_into()
            .map_or(Value::Null, |i: i64| Value::from(i)),
        C::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        C::Text(t) => Value::String(t),
        C::Bool(b) => Value::Bool(b),
        C::Null => Value::Null,
        C::Tag(_, inner) => to_json(*inner),
        C::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        C::Map(pairs) => Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_text().unwrap_or_default().to_string(), to_json(v)))
                .collect(),
        ),
        C::Bytes(_) => Value::Null,
        _ => Value::Null,
    }
}
