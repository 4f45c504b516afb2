//! Hostile input never hurts: generated API Gateway events — raw paths, raw query strings
//! (bad percent-encoding, thousand-digit numbers, non-ASCII digits, signs, spaces,
//! exponents, hex, NUL bytes, repeated keys, empty values), path parameters, headers,
//! methods and bodies — go through the functions' real entry point
//! (`shared::http::handle`, what the Lambda runtime loop calls) over a seeded table.
//! Every answer is a correct 200 or the contract's JSON error envelope with a 4xx,
//! validated against openapi.yaml; never a panic, never a 5xx.

use integration_tests::apigw::Function;
use integration_tests::apigw::{Reply, invoke_function};
use integration_tests::openapi::OpenApi;
use integration_tests::seeded_app;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Value, json};
use shared::http::App;

const ROUTES: [&str; 11] = [
    "/api/conversations",
    "/api/conversations/counts",
    "/api/get-conversation-counts.php",
    "/api/stats",
    "/api/get-conversations",
    "/api/get-conversations.php",
    "/api/conversations/{id}/messages",
    "/api/get-conversation-messages",
    "/api/get-conversation-messages.php",
    "/api/check-updates.php",
    "/api/check-conversation-updates.php",
];

/// Strings that look like numbers, almost, and worse.
fn numberish() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,3}",
        "[1-3][0-9]{0,2}",
        "[0-9]{16,40}",
        "[0-9]{1000}",
        Just(String::new()),
        "[+-][0-9]{1,3}",
        "[ \t][0-9]{1,3}",
        "[0-9]{1,3} ",
        "[0-9]e[0-9]",
        "0x[0-9a-f]{1,4}",
        "[0-9]\\.[0-9]",
        "[٠-٩०-९０-９]{1,3}",
        "[0-9]{1,2}\u{0}[0-9]?",
        "%[0-9a-fA-FzZ%]{0,2}[0-9]{0,2}",
        Just("customer".to_string()),
        "(active|pending_human|closed|ACTIVE|active |)",
        "20[0-9]{2}-[01][0-9]-[0-3][0-9][ T+][0-2][0-9]:[0-5][0-9]:[0-6][0-9](Z|[.][0-9]{3}Z|[+-][0-9]{2}:?[0-9]{2}|)",
        "[A-Za-z0-9_-]{0,24}",
        // Phone numbers, seed-demo's first two among them.
        "(%2B|\\+| )?57 ?3(00 ?1234567|10 ?9876543|00 ?0000001)",
        any::<String>(),
    ]
}

/// A raw query string: repeated and unknown keys, empty values, bare keys, raw bytes.
fn raw_query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("id".to_string()),
        Just("limit".to_string()),
        Just("offset".to_string()),
        Just("status".to_string()),
        Just("cursor".to_string()),
        Just("before".to_string()),
        Just("last_check".to_string()),
        Just("conversation_id".to_string()),
        Just("phone".to_string()),
        Just("waiting".to_string()),
        "[a-z%+]{0,6}",
    ];
    let pair = (key, numberish(), any::<bool>()).prop_map(|(k, v, bare)| {
        if bare && v.is_empty() {
            k
        } else {
            format!("{k}={v}")
        }
    });
    prop_oneof![
        4 => proptest::collection::vec(pair, 0..6).prop_map(|pairs| pairs.join("&")),
        1 => any::<String>(),
        1 => "[&=;?#% +]{0,8}",
    ]
}

/// A raw path: the routes, the `{id}` route with any id, anything else.
fn raw_path() -> impl Strategy<Value = (String, Option<String>)> {
    prop_oneof![
        3 => proptest::sample::select(ROUTES.to_vec())
            .prop_filter("not the {id} route", |r| !r.contains('{'))
            .prop_map(|r| (r.to_string(), None)),
        4 => numberish().prop_map(|id| (format!("/api/conversations/{id}/messages"), Some(id))),
        1 => (any::<String>(), proptest::option::of(numberish())),
        1 => ("/api/[a-z/.%-]{0,20}", proptest::option::of(numberish())),
    ]
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just("GET".to_string()),
        3 => proptest::sample::select(vec!["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get", "TRACE"])
            .prop_map(str::to_string),
        1 => "[A-Za-z ]{0,8}",
        1 => any::<String>(),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    function: Function,
    event: Value,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        raw_path(),
        raw_query(),
        method(),
        proptest::collection::btree_map("[a-zA-Z-]{1,12}", any::<String>(), 0..4),
        proptest::option::of(any::<String>()),
        any::<bool>(),
    )
        .prop_map(|(messages, (path, id), query, method, headers, body, base64)| {
            let function = if messages {
                Function::GetConversationMessages
            } else {
                Function::GetConversations
            };
            let mut event = json!({
                "version": "2.0",
                "routeKey": "$default",
                "rawPath": path,
                "rawQueryString": query,
                "headers": headers,
                "requestContext": {
                    "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
                    "requestId": "hostile",
                    "routeKey": "$default",
                    "stage": "$default",
                    "timeEpoch": 1705329025000u64
                },
                "isBase64Encoded": base64
            });
            if let Some(id) = id {
                event["pathParameters"] = json!({ "id": id });
            }
            if let Some(body) = body {
                event["body"] = json!(body);
            }
            Case { function, event }
        })
}

const HEADERS: [(&str, &str); 3] = [
    ("content-type", "application/json; charset=utf-8"),
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
];

/// What every answer must be, whatever the request.
fn check(case: &Case, reply: &Reply) -> Result<(), String> {
    let handler = case
        .function
        .handler(case.event["rawPath"].as_str().unwrap_or_default());
    // The contract's path of that handler, for the OpenAPI check.
    let path = match handler.name {
        "messages" => "/api/conversations/1/messages",
        "counts" => "/api/conversations/counts",
        "stats" => "/api/stats",
        "check_updates" => "/api/check-updates.php",
        "conversation_updates" => "/api/check-conversation-updates.php",
        _ => "/api/conversations",
    };
    let legacy = handler.legacy_error;
    if ![200, 400, 404, 405].contains(&reply.status) {
        return Err(format!("status {}: {}", reply.status, reply.body));
    }
    for (name, value) in HEADERS {
        if reply.header(name) != Some(value) {
            return Err(format!("header {name}: {:?}", reply.header(name)));
        }
    }
    if reply.status != 200 {
        let b = &reply.body;
        let code = match reply.status {
            400 => "invalid_parameter",
            404 => "not_found",
            _ => "method_not_allowed",
        };
        if b["success"] != json!(false) || b["error"] != json!(legacy) || b["code"] != json!(code) {
            return Err(format!("not the contract's error envelope: {b}"));
        }
        if b["detail"].as_str().is_none_or(str::is_empty) {
            return Err(format!("a 4xx says what to fix: {b}"));
        }
    }
    OpenApi::get().check(path, reply)
}

fn run_cases(app: &App, cases: u32) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    let result = runner.run(&case(), |case| {
        let reply = rt.block_on(invoke_function(app, case.function, &case.event));
        *statuses.borrow_mut().entry(reply.status).or_default() += 1;
        check(&case, &reply).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let statuses = statuses.into_inner();
    println!("statuses over {cases} generated events (and shrinking): {statuses:?}");
    // The generator reaches the interesting answers, not only 400s.
    for status in [200, 400, 404, 405] {
        assert!(statuses.contains_key(&status), "no {status} among {statuses:?}");
    }
}

#[test]
fn generated_hostile_events_get_a_contract_answer_never_a_5xx() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(seeded_app("hostile", &[]));
    // HOSTILE_CASES raises the count for a longer hunt (`make test` runs 1,000).
    let cases = std::env::var("HOSTILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    run_cases(&app, cases);
}

#[test]
fn the_known_nasty_ones() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(seeded_app("nasty", &[]));
    let long = "9".repeat(100_000);
    // (function, method, raw query, path parameter id, the contract's status)
    let nasty: Vec<(Function, &str, String, Option<&str>, u16)> = vec![
        (
            Function::GetConversationMessages,
            "GET",
            format!("id={long}"),
            None,
            400,
        ),
        (
            Function::GetConversationMessages,
            "GET",
            "id=1&limit=%ff%fe&offset=%".into(),
            None,
            400,
        ),
        (
            Function::GetConversationMessages,
            "GET",
            "id=1&offset=1e3".into(),
            None,
            400,
        ),
        (
            Function::GetConversationMessages,
            "GET",
            "id=1".into(),
            Some("\u{0}"),
            400,
        ),
        (
            Function::GetConversationMessages,
            "GET",
            "id=1&before=%F0%9F%8E%89".into(),
            None,
            400,
        ),
        (
            Function::GetConversationMessages,
            "GET",
            "id=1&id=\"<script>\"".into(),
            None,
            400,
        ),
        (
            Function::GetConversationMessages,
            "GET",
            "id=999999&limit=5".into(),
            None,
            404,
        ),
        (
            Function::GetConversations,
            "GET",
            format!("limit={long}"),
            None,
            200,
        ),
        (
            Function::GetConversations,
            "GET",
            "status=%zz&status=".into(),
            None,
            200,
        ),
        (
            Function::GetConversations,
            "GET",
            "status=closed&status=%zz".into(),
            None,
            400,
        ),
        (
            Function::GetConversations,
            "GET",
            "cursor=../../etc/passwd".into(),
            None,
            400,
        ),
        (
            Function::GetConversations,
            "GET",
            "a=b#c|d^e`f{g}\\%".into(),
            None,
            200,
        ),
        (
            Function::GetConversations,
            "GET",
            format!("phone={long}"),
            None,
            400,
        ),
        (
            Function::GetConversations,
            "GET",
            "phone=57300%00000001".into(),
            None,
            400,
        ),
        (Function::GetConversations, "GET", "phone=".into(), None, 400),
        (
            Function::GetConversations,
            "GET",
            "phone=%2B57%20300%20123%204567&status=".into(),
            None,
            200,
        ),
        (
            Function::GetConversations,
            "GET",
            "phone=+573001234567&cursor=x".into(),
            None,
            400,
        ),
        (
            Function::GetConversations,
            "GET",
            "waiting=customer&status=closed&limit=5".into(),
            None,
            200,
        ),
        (Function::GetConversations, "GET", "waiting=ai".into(), None, 400),
        (
            Function::GetConversations,
            "GET",
            "waiting=Customer".into(),
            None,
            400,
        ),
        (
            Function::GetConversations,
            "GET",
            "waiting=customer%00".into(),
            None,
            400,
        ),
        (
            Function::GetConversations,
            "GET",
            format!("waiting={long}"),
            None,
            400,
        ),
        (
            Function::GetConversations,
            "GET",
            "waiting=customer&phone=573001234567".into(),
            None,
            400,
        ),
        (
            Function::GetConversations,
            "GET",
            "waiting=customer&cursor=00".into(),
            None,
            400,
        ),
        (Function::GetConversations, "BREW", String::new(), None, 405),
    ];
    for (function, method, query, id, status) in nasty {
        let mut event = json!({
            "rawPath": "/api/get-conversation-messages.php",
            "rawQueryString": query,
            "headers": {"host": "a b", "x-forwarded-proto": "ht tp"},
            "requestContext": {"http": {"method": method}},
            "body": "%%%", "isBase64Encoded": true
        });
        if let Some(id) = id {
            event["pathParameters"] = json!({ "id": id });
        }
        let case = Case { function, event };
        let reply = rt.block_on(invoke_function(&app, function, &case.event));
        let shown: String = query.chars().take(60).collect();
        check(&case, &reply).unwrap_or_else(|e| panic!("{shown}: {e}"));
        assert_eq!(reply.status, status, "{shown}: {}", reply.body["detail"]);
    }
}

const FRONT_SECRET: &str = "hostile-front-secret-0123456789abcdef";

/// Near misses of the front's secret: empty, cut, grown, one byte off, another case,
/// repeated (API Gateway joins a repeated header with a comma), padded, or anything.
fn wrong_secret() -> impl Strategy<Value = Option<String>> {
    let s = FRONT_SECRET.to_string();
    prop_oneof![
        Just(None),
        Just(Some(String::new())),
        (0..s.len()).prop_map({
            let s = s.clone();
            move |n| Some(s[..n].to_string())
        }),
        any::<String>().prop_map({
            let s = s.clone();
            move |tail| Some(format!("{s}{tail}")).filter(|t| *t != s)
        }),
        (0..s.len()).prop_map({
            let s = s.clone();
            move |i| {
                let mut b = s.clone().into_bytes();
                b[i] ^= 1;
                Some(String::from_utf8_lossy(&b).into_owned())
            }
        }),
        Just(Some(s.to_uppercase())),
        Just(Some(format!("{s},{s}"))),
        Just(Some(format!(" {s}"))),
        any::<String>().prop_map(Some),
    ]
}

/// With `ACCESS=front`, every generated event without the exact secret — whatever its
/// path, query, method, headers or body — gets the 403 envelope of its route and sends
/// DynamoDB nothing (counted at the wire).
#[test]
fn front_mode_refuses_every_event_without_the_secret_before_dynamodb() {
    use integration_tests::faults::{FaultyEndpoint, app_via};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let relay = FaultyEndpoint::timing(&integration_tests::dynamodb().endpoint);
    let app = rt.block_on(async {
        let app = seeded_app(
            "hostile-front",
            &[("ACCESS", "front"), ("FRONT_SECRET", FRONT_SECRET)],
        )
        .await;
        app_via(&app, &relay.url).await
    });
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&(case(), wrong_secret()), |(mut case, secret)| {
        if let Some(secret) = secret {
            case.event["headers"]["x-origin-verify"] = json!(secret);
        }
        let reply = rt.block_on(invoke_function(&app, case.function, &case.event));
        let path = case.event["rawPath"].as_str().unwrap_or_default();
        let legacy = case.function.handler(path).legacy_error;
        let b = &reply.body;
        if reply.status != 403 || b["code"] != json!("forbidden") || b["error"] != json!(legacy) {
            return Err(TestCaseError::fail(format!("{}: {b}", reply.status)));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_eq!(relay.requests(), 0, "a refused event reached DynamoDB");
}
