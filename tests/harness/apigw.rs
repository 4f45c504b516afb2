//! Requests as API Gateway HTTP API (payload 2.0) sends them, through the real handlers,
//! or over HTTP to a running stack (`cargo lambda watch`, a deployed API).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};
use shared::http::routes::{
    self, CHECK_UPDATES, CONVERSATION_UPDATES, COUNTS, Handler, INBOX, MESSAGES, Routes, STATS,
};
use shared::http::{App, HttpEvent};

/// A response as a client sees it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// The value of header `name` among `headers` (names in lower case), if there is one.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The route of a path, as `template.yaml` declares it, with the path parameters.
pub fn route(path: &str) -> Option<(&'static str, Option<String>)> {
    match path {
        "/api/conversations" => Some(("/api/conversations", None)),
        "/api/get-conversations" => Some(("/api/get-conversations", None)),
        "/api/get-conversations.php" => Some(("/api/get-conversations.php", None)),
        "/api/conversations/counts" => Some(("/api/conversations/counts", None)),
        "/api/get-conversation-counts.php" => Some(("/api/get-conversation-counts.php", None)),
        "/api/stats" => Some(("/api/stats", None)),
        "/api/get-conversation-messages" => Some(("/api/get-conversation-messages", None)),
        "/api/get-conversation-messages.php" => Some(("/api/get-conversation-messages.php", None)),
        "/api/check-updates.php" => Some(("/api/check-updates.php", None)),
        "/api/check-conversation-updates.php" => Some(("/api/check-conversation-updates.php", None)),
        _ => {
            let id = path
                .strip_prefix("/api/conversations/")?
                .strip_suffix("/messages")?;
            (!id.is_empty() && !id.contains('/'))
                .then(|| ("/api/conversations/{id}/messages", Some(percent_decode(id))))
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The API Gateway HTTP API 2.0 event for `method path?query`, with a fixed set of
/// request headers (a client's, as API Gateway adds its own).
pub fn event(method: &str, path_and_query: &str) -> Value {
    event_with_headers::<&str, &str>(method, path_and_query, &[])
}

/// [`event`] with a request's own headers as API Gateway passes them on: names in lower
/// case, repeated headers joined with commas, cookies in `cookies` instead of `headers`.
/// They replace the fixed ones of the same name; hop-by-hop headers are dropped.
pub fn event_with_headers<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    path_and_query: &str,
    request_headers: &[(K, V)],
) -> Value {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let (route_path, id) = route(path).unwrap_or(("$default", None));
    let route_key = if route_path == "$default" {
        "$default".to_string()
    } else {
        format!("GET {route_path}")
    };
    // API Gateway joins repeated parameters with commas here; the functions read the raw
    // query string instead, as they must.
    let mut params = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        match params.get_mut(&k) {
            Some(Value::String(prev)) => {
                prev.push(',');
                prev.push_str(&v);
            }
            _ => {
                params.insert(k, Value::String(v));
            }
        }
    }
    let mut e = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "accept": "application/json",
            "accept-encoding": "gzip, deflate, br",
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "user-agent": "contract-tests",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "contract-tests"
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": route_key,
            "stage": "$default",
            "time": "15/Jan/2024:14:30:25 +0000",
            "timeEpoch": 1705329025000u64
        },
        "isBase64Encoded": false
    });
    let mut headers = serde_json::Map::new();
    let mut cookies = Vec::new();
    for (name, value) in request_headers {
        let (name, value) = (name.as_ref().trim().to_ascii_lowercase(), value.as_ref().trim());
        match name.as_str() {
            "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade" | "te" => {}
            "cookie" => cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Value::String(c.to_string())),
            ),
            _ => match headers.get_mut(&name) {
                Some(Value::String(prev)) => {
                    prev.push(',');
                    prev.push_str(value);
                }
                _ => {
                    headers.insert(name, Value::String(value.to_string()));
                }
            },
        }
    }
    for (name, value) in headers {
        e["headers"][name] = value;
    }
    if !cookies.is_empty() {
        e["cookies"] = Value::Array(cookies);
    }
    if !params.is_empty() {
        e["queryStringParameters"] = Value::Object(params);
    }
    if let Some(id) = id {
        e["pathParameters"] = json!({ "id": id });
    }
    e
}

/// A Lambda function, as the tests see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    GetConversations,
    GetConversationMessages,
}

impl Function {
    pub const ALL: [Function; 2] = [Function::GetConversations, Function::GetConversationMessages];

    /// The function a raw path belongs to, as the template routes it.
    pub fn of(raw_path: &str) -> Function {
        if raw_path.contains("messages") {
            Function::GetConversationMessages
        } else {
            Function::GetConversations
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Function::GetConversations => "get-conversations",
            Function::GetConversationMessages => "get-conversation-messages",
        }
    }

    /// Its routes as template.yaml gives them: the tests' own copy of the function's
    /// `main.rs` table, which `tests/template.rs` holds to the template and the function's
    /// runtime test holds its binary to.
    pub fn routes(self) -> Routes {
        match self {
            Function::GetConversations => &[
                ("/api/conversations", INBOX),
                ("/api/conversations/counts", COUNTS),
                ("/api/get-conversation-counts.php", COUNTS),
                ("/api/stats", STATS),
                ("/api/get-conversations", INBOX),
                ("/api/get-conversations.php", INBOX),
                ("/api/check-updates.php", CHECK_UPDATES),
                ("/api/check-conversation-updates.php", CONVERSATION_UPDATES),
            ],
            Function::GetConversationMessages => &[
                ("/api/conversations/{id}/messages", MESSAGES),
                ("/api/get-conversation-messages", MESSAGES),
                ("/api/get-conversation-messages.php", MESSAGES),
            ],
        }
    }

    /// What answers `raw_path` in this function.
    pub fn handler(self, raw_path: &str) -> Handler {
        routes::handler_for(self.routes(), raw_path).expect("a function has routes")
    }
}

/// What answers `raw_path`, in the function the template routes it to.
pub fn handler_of(raw_path: &str) -> Handler {
    Function::of(raw_path).handler(raw_path)
}

/// Runs an API Gateway event through the function its route belongs to, by the same
/// entry point the Lambda runtime loop calls (`shared::http::handle`).
pub async fn invoke(app: &App, event: &Value) -> Reply {
    let function = Function::of(event["rawPath"].as_str().unwrap_or_default());
    invoke_function(app, function, event).await
}

pub async fn invoke_function(app: &App, function: Function, event: &Value) -> Reply {
    let event: HttpEvent = serde_json::from_value(event.clone()).expect("an API Gateway 2.0 event");
    let response = shared::http::handle(app, function.routes(), event, None).await;
    let headers = response
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    assert!(!response.is_base64_encoded, "bodies are text");
    let body = match &response.body {
        Some(aws_lambda_events::encodings::Body::Text(t)) => t.clone(),
        other => panic!("a text body, got {other:?}"),
    };
    let body = serde_json::from_str(&body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body}"));
    Reply {
        status: u16::try_from(response.status_code).expect("an HTTP status"),
        headers,
        body,
    }
}

/// Where the contract suite sends its requests.
pub enum Target<'a> {
    /// The real handlers, called in-process with API Gateway 2.0 events.
    InProcess(&'a App),
    /// A running stack: `http://127.0.0.1:9000` (`make dev`), or a deployed API's URL.
    Http(String),
}

impl Target<'_> {
    pub async fn get(&self, path_and_query: &str) -> Reply {
        match self {
            Target::InProcess(app) => invoke(app, &event("GET", path_and_query)).await,
            Target::Http(base) => {
                let url = format!("{base}{path_and_query}");
                tokio::task::spawn_blocking(move || http_get(&url))
                    .await
                    .expect("HTTP client task")
            }
        }
    }
}

/// A minimal HTTP/1.0 GET (plain HTTP, for local stacks): the server closes the
/// connection after the response, so the body is everything after the headers.
/// Transport failures are retried: `cargo lambda watch` drops a few requests.
fn http_get(url: &str) -> Reply {
    let rest = url.strip_prefix("http://").expect("an http:// base URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut last_error = String::new();
    for _ in 0..5 {
        match try_http_get(host, path) {
            Ok(reply) => return reply,
            Err(e) => last_error = e,
        }
    }
    panic!("GET {url} failed 5 times: {last_error}");
}

fn try_http_get(host: &str, path: &str) -> Result<Reply, String> {
    let mut stream = TcpStream::connect(host).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no header end in {} bytes", raw.len()))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = serde_json::from_slice(&raw[split + 4..])
        .map_err(|e| format!("status {status}, body not JSON: {e}"))?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}
