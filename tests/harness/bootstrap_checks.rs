//! Checks run against each real function binary (its own `tests/runtime.rs` calls them
//! with `CARGO_BIN_EXE_…`): hostile events through the real runtime loop, the process
//! still serving afterwards, and logs at INFO (the most verbose level the template allows)
//! free of phone numbers, names, texts and the front's secret. The binary runs in
//! `ACCESS=front`, as behind the dashboard's sign-in: requests without the secret are
//! refused, the others carry it and the signed-in user, who shows in the access log.

use std::path::Path;

use crate::apigw::Function;
use serde_json::{Value, json};

use crate::apigw::event;
use crate::runtime_api::Bootstrap;
use crate::{dynamodb, seeded_app};

/// Events a client can cause that lambda_http's own conversion panics or fails on (an
/// invalid URI, a bad base64 body, a non-ASCII header value), and other nasty ones.
fn hostile_events(function: Function) -> Vec<Value> {
    let path = match function {
        Function::GetConversations => "/api/conversations",
        Function::GetConversationMessages => "/api/get-conversation-messages.php",
    };
    let raw = |query: &str| {
        let mut e = event("GET", path);
        e["rawQueryString"] = json!(query);
        e
    };
    let mut events = vec![
        raw("a b=\"c\"&{x}|y^z`HOSTILE-MARKER"),
        raw(&format!("id=1&limit={}", "9".repeat(70_000))),
        raw("id=%zz&limit=%&offset=%F0%9F"),
        raw("status=act%00ive&id=1\u{0}"),
    ];
    let mut e = event("GET", path);
    e["headers"]["x-name"] = json!("José 🎉");
    e["headers"]["host"] = json!("a b");
    e["headers"]["x-forwarded-proto"] = json!("ht tp");
    e["body"] = json!("not base64 %%%");
    e["isBase64Encoded"] = json!(true);
    e["cookies"] = json!(["a=\u{1}", "b"]);
    events.push(e);
    let mut e = event("GET", "/api/conversations/%F0%9F%8E%89/messages");
    e["rawPath"] = json!("/api/conversations/\u{0}🎉 <x>/messages");
    e["pathParameters"] = json!({"id": "🎉"});
    events.push(e);
    let mut e = event("BREW", path);
    e["requestContext"]["http"]["method"] = json!("B R E W");
    events.push(e);
    let mut e = event("GET", path);
    e["requestContext"] = Value::Null;
    e["rawPath"] = Value::Null;
    events.push(e);
    events
}

/// Valid requests that read every conversation (and, for the messages function, every
/// conversation's messages) of the demo data.
fn valid_events(function: Function) -> Vec<Value> {
    match function {
        Function::GetConversations => ["", "?status=active", "?status=pending_human", "?status=closed"]
            .iter()
            .map(|q| event("GET", &format!("/api/get-conversations.php{q}")))
            .collect(),
        Function::GetConversationMessages => (1..=37)
            .map(|id| event("GET", &format!("/api/conversations/{id}/messages?limit=100")))
            .collect(),
    }
}

/// Strings of the data a response carried that must never reach a log.
fn private_strings(body: &Value, out: &mut Vec<String>) {
    let fields = ["phone_number", "contact_name", "last_message", "message_text"];
    match body {
        Value::Object(map) => {
            for (k, v) in map {
                if let Value::String(s) = v
                    && fields.contains(&k.as_str())
                    && s.chars().count() >= 6
                {
                    out.push(s.clone());
                }
                private_strings(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| private_strings(v, out)),
        _ => {}
    }
}

const FRONT_SECRET: &str = "bootstrap-front-secret-0123456789abcdef";
const WRONG_SECRET: &str = "bootstrap-wrong-secret-0123456789abcdef";
const USER: &str = "agent-ana";

/// Runs the function binary `bin` over a seeded table: every hostile event gets a 4xx (or
/// 200) contract answer — never an invocation error, never a 5xx — and the next valid
/// request is still served; a request without the front's secret gets 403; then no log
/// line holds a phone number, name, message text or secret, and the user is logged.
pub fn hostile_events_and_private_data_stay_out_of_logs(bin: &Path, function: Function) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(seeded_app("bootstrap", &[]));
    let mut bootstrap = Bootstrap::start(
        bin,
        &[
            ("TABLE_NAME", app.store.table_name()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &dynamodb().endpoint),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("ACCESS", "front"),
            ("FRONT_SECRET", FRONT_SECRET),
        ],
    );
    let send = |e: &Value| -> (u16, Value) {
        let response = bootstrap
            .invoke(e.to_string().as_bytes())
            .unwrap_or_else(|err| panic!("invocation error (a 5xx at API Gateway): {err}"));
        assert_eq!(response["isBase64Encoded"], json!(false), "{response}");
        let status = response["statusCode"].as_u64().expect("a statusCode") as u16;
        let body = response["body"].as_str().expect("a text body");
        let body: Value = serde_json::from_str(body).expect("a JSON body");
        (status, body)
    };
    // As the front sends it: with the secret and the signed-in user.
    let answer = |e: &Value| -> (u16, Value) {
        let mut e = e.clone();
        if e["headers"].is_object() {
            e["headers"]["x-origin-verify"] = json!(FRONT_SECRET);
            e["headers"]["x-dashboard-user"] = json!(USER);
        }
        send(&e)
    };
    let valid = valid_events(function);
    for secret in [None, Some(WRONG_SECRET)] {
        let mut e = valid[0].clone();
        if let Some(secret) = secret {
            e["headers"]["x-origin-verify"] = json!(secret);
        }
        e["headers"]["x-dashboard-user"] = json!("mallory");
        let (status, body) = send(&e);
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["code"], json!("forbidden"), "{body}");
    }

    for hostile in hostile_events(function) {
        let (status, body) = answer(&hostile);
        assert!([200, 400, 404, 405].contains(&status), "{status}: {body}");
        if status != 200 {
            assert_eq!(body["success"], json!(false), "{body}");
        }
        let (status, body) = answer(&valid[0]);
        assert_eq!(status, 200, "the function still serves: {body}");
    }

    let mut private = Vec::new();
    for e in &valid {
        let (status, body) = answer(e);
        assert_eq!(status, 200, "{body}");
        private_strings(&body, &mut private);
    }
    // Every path the template routes to this function reaches the handler its `main.rs`
    // table gives it (read back from the request log line).
    for (path, _) in function.routes() {
        let url = match path.replace("{id}", "1") {
            url if url.contains("get-conversation-messages") => format!("{url}?id=1"),
            url => url,
        };
        // The polls refuse a request without `last_check` (400): answered all the same.
        let (status, body) = answer(&crate::apigw::event("GET", &url));
        assert!([200, 400].contains(&status), "{url}: {status} {body}");
    }
    assert!(bootstrap.is_running(), "the function process is still up");
    assert!(
        private.len() >= 30,
        "the run read private data: {}",
        private.len()
    );

    drop(app);
    let answered_by = |path: &str, handler: &str| {
        let route = format!("\"route\":\"GET {path}\"");
        let answered = format!("\"handler\":\"{handler}\"");
        move |l: &String| l.contains(&route) && l.contains(&answered)
    };
    // Every route's line, once the output reader has caught up with the answers (a
    // generous bound: it fails only when a line never comes).
    let logs = bootstrap.logs_until(
        |logs| {
            function
                .routes()
                .iter()
                .all(|(path, handler)| logs.iter().any(answered_by(path, handler.name)))
        },
        std::time::Duration::from_secs(60),
    );
    for (path, handler) in function.routes() {
        assert!(
            logs.iter().any(answered_by(path, handler.name)),
            "{path} is answered by {}: {logs:#?}",
            handler.name
        );
    }
    let requests = logs.iter().filter(|l| l.contains("\"request\"")).count();
    assert!(
        requests >= valid.len(),
        "one access log line per request: {requests}"
    );
    assert!(
        logs.iter().any(|l| l.contains(&format!("\"user\":\"{USER}\""))),
        "the access log names the signed-in user"
    );
    for line in &logs {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("a JSON log line: {line}"));
        let level = v["level"].as_str().unwrap_or_default();
        assert!(
            ["INFO", "WARN", "ERROR"].contains(&level),
            "logs at INFO and above only: {line}"
        );
        for s in &private {
            let escaped = serde_json::to_string(s).unwrap();
            let escaped = &escaped[1..escaped.len() - 1];
            assert!(
                !line.contains(s.as_str()) && !line.contains(escaped),
                "private data {s:?} in a log line: {line}"
            );
        }
        assert!(
            !line.contains("HOSTILE-MARKER"),
            "client input in a log line: {line}"
        );
        assert!(
            !line.contains(FRONT_SECRET) && !line.contains(WRONG_SECRET),
            "a secret in a log line: {line}"
        );
        assert!(
            !line.contains("mallory"),
            "a user the front did not vouch for in a log line: {line}"
        );
    }
}
