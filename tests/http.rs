//! The handlers at the HTTP level, as API Gateway 2.0 calls them: every file in `events/`,
//! and the contract's rules one test each (the full sweep is `tests/contract.rs`).

use integration_tests::apigw::{Reply, event, invoke};
use integration_tests::{seeded_app, workspace_root};
use serde_json::{Value, json};
use shared::http::App;
use tokio::sync::OnceCell;

/// One app over a table loaded with `convo-admin seed-demo`, shared by the tests here.
async fn demo_app() -> &'static App {
    static APP: OnceCell<App> = OnceCell::const_new();
    APP.get_or_init(|| seeded_app("http", &[])).await
}

async fn get(url: &str) -> Reply {
    invoke(demo_app().await, &event("GET", url)).await
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

fn assert_error(r: &Reply, status: u16, code: &str, legacy: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(keys(&r.body), ["code", "detail", "error", "success"]);
    assert_eq!(r.body["success"], json!(false));
    assert_eq!(r.body["code"], json!(code));
    assert_eq!(r.body["error"], json!(legacy));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_file_gets_the_answer_its_name_promises() {
    let app = demo_app().await;
    let mut files: Vec<_> = std::fs::read_dir(workspace_root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "events/ holds {} files", files.len());
    for path in files {
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let e: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let r = invoke(app, &e).await;
        let url = format!(
            "{}?{}",
            e["rawPath"].as_str().unwrap(),
            e["rawQueryString"].as_str().unwrap()
        );
        integration_tests::openapi::OpenApi::get()
            .check(&url, &r)
            .unwrap();
        let raw_path = e["rawPath"].as_str().unwrap();
        let messages = raw_path.contains("messages");
        let route = integration_tests::apigw::handler_of(raw_path);
        let legacy = route.legacy_error;
        let polling = [
            shared::http::routes::CHECK_UPDATES,
            shared::http::routes::CONVERSATION_UPDATES,
        ]
        .contains(&route);
        if route == shared::http::routes::COUNTS {
            assert_eq!(r.status, 200, "{name}: {}", r.body);
            assert_eq!(keys(&r.body), ["counts", "messages", "success"]);
            assert!(r.body["counts"]["total"].as_u64().unwrap() > 0, "{name}");
        } else if route == shared::http::routes::STATS {
            assert_eq!(r.status, 200, "{name}: {}", r.body);
            assert_eq!(keys(&r.body), ["stats", "success"]);
            let stats = &r.body["stats"];
            assert!(stats["conversations"]["total"].as_u64().unwrap() > 0, "{name}");
            assert_eq!(
                stats["daily_messages"].as_array().map(Vec::len),
                Some(7),
                "{name}"
            );
        } else if name.ends_with("unknown-conversation") {
            assert_error(&r, 404, "not_found", legacy);
        } else if name.starts_with("error-") {
            assert_error(&r, 400, "invalid_parameter", legacy);
        } else if polling {
            assert_eq!(r.status, 200, "{name}: {}", r.body);
            assert_eq!(r.body["success"], json!(true), "{name}");
            assert!(r.body["server_time"].is_string(), "{name}");
        } else if messages {
            assert_eq!(r.status, 200, "{name}: {}", r.body);
            assert_eq!(
                keys(&r.body),
                [
                    "before_cursor",
                    "has_more",
                    "messages",
                    "server_time",
                    "success",
                    "total"
                ]
            );
            assert!(!r.body["messages"].as_array().unwrap().is_empty(), "{name}");
        } else {
            assert_eq!(r.status, 200, "{name}: {}", r.body);
            assert_eq!(keys(&r.body), ["conversations", "next_cursor", "success"]);
            assert!(!r.body["conversations"].as_array().unwrap().is_empty(), "{name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_lookup_answers_the_inbox_shape_with_that_conversation_or_none() {
    let found = get("/api/conversations?phone=%2B57%20300%20123%204567").await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(keys(&found.body), ["conversations", "next_cursor", "success"]);
    let list = found.body["conversations"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", found.body);
    assert_eq!(list[0]["phone_number"], json!("573001234567"));
    assert_eq!(found.body["next_cursor"], Value::Null);
    let status = list[0]["status"].as_str().unwrap().to_string();
    // The same through the legacy URL, an unencoded + (a space), and its own status.
    for url in [
        "/api/get-conversations.php?phone=+573001234567".to_string(),
        format!("/api/conversations?phone=573001234567&status={status}&limit=1"),
    ] {
        let again = get(&url).await;
        assert_eq!(again.body, found.body, "{url}");
    }
    let other = ["active", "pending_human", "closed"]
        .into_iter()
        .find(|s| *s != status)
        .unwrap();
    for url in [
        format!("/api/conversations?phone=573001234567&status={other}"),
        "/api/conversations?phone=573001234568".to_string(),
    ] {
        let none = get(&url).await;
        assert_eq!(none.status, 200, "{url}");
        assert_eq!(none.body["conversations"], json!([]), "{url}");
    }
    for (url, detail) in [
        (
            "/api/conversations?phone=57-300",
            "phone must be a phone number's digits",
        ),
        (
            "/api/conversations?phone=",
            "phone must be a phone number's digits",
        ),
        (
            "/api/conversations?phone=573001234567&cursor=abc",
            "cursor does not go with phone",
        ),
        (
            "/api/get-conversations.php?phone=573001234567&status=open",
            "status must be",
        ),
        (
            "/api/conversations?phone=573001234567&waiting=customer",
            "waiting does not go with phone",
        ),
        ("/api/conversations?waiting=agent", "waiting must be customer"),
        (
            "/api/get-conversations.php?waiting=customer&cursor=abc",
            "cursor must be the next_cursor",
        ),
    ] {
        let r = get(url).await;
        let legacy = integration_tests::apigw::handler_of(url.split('?').next().unwrap()).legacy_error;
        assert_error(&r, 400, "invalid_parameter", legacy);
        assert!(
            r.body["detail"].as_str().unwrap().starts_with(detail),
            "{url}: {}",
            r.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_three_headers() {
    for url in [
        "/api/conversations",
        "/api/conversations?status=nope",
        "/api/conversations/999999/messages",
    ] {
        let r = get(url).await;
        assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(
            r.header("access-control-allow-origin"),
            None,
            "CORS belongs to API Gateway"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_other_than_get_are_405() {
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let r = invoke(demo_app().await, &event(method, "/api/conversations/1/messages")).await;
        assert_error(&r, 405, "method_not_allowed", "Error al obtener mensajes");
        assert_eq!(r.header("allow"), Some("GET"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_id_wins_over_query_id() {
    let by_path = get("/api/conversations/2/messages?id=3").await;
    let direct = get("/api/get-conversation-messages.php?id=2").await;
    assert_eq!(by_path.body["messages"], direct.body["messages"]);
    // A malformed ?id= is ignored when the path has one ...
    assert_eq!(get("/api/conversations/2/messages?id=abc").await.status, 200);
    // ... and a malformed path id is a 400 whatever ?id= says.
    let r = get("/api/conversations/x2/messages?id=2").await;
    assert_error(&r, 400, "invalid_parameter", "Error al obtener mensajes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_parameter_takes_its_last_value() {
    let r = get("/api/conversations?status=closed&status=pending_human").await;
    let statuses: Vec<&Value> = r.body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["status"])
        .collect();
    assert!(!statuses.is_empty() && statuses.iter().all(|s| **s == json!("pending_human")));
    let r = get("/api/conversations/1/messages?limit=abc&limit=2").await;
    assert_eq!(r.body["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_above_20_is_clamped_and_the_list_default_is_100() {
    let r = get("/api/conversations/1/messages?limit=500").await;
    let total = r.body["total"].as_u64().unwrap();
    assert_eq!(r.body["messages"].as_array().unwrap().len() as u64, total.min(20));
    let r = get("/api/conversations?limit=100000").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["conversations"].as_array().unwrap().len(), 37);
    assert_eq!(r.body["next_cursor"], json!(null));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_without_messages_has_null_summary_and_an_empty_page() {
    let list = get("/api/conversations").await;
    let empty = list.body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["last_message"].is_null())
        .expect("the demo data has a conversation without messages")
        .clone();
    assert_eq!(empty["last_sender_type"], json!(null));
    assert_eq!(empty["last_message_created_at"], json!(null));
    let r = get(&format!("/api/conversations/{}/messages", empty["id"])).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["messages"], json!([]));
    assert_eq!(
        (r.body["total"].clone(), r.body["has_more"].clone()),
        (json!(0), json!(false))
    );
    assert_eq!(r.body["before_cursor"], json!(null));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_enabled_is_an_integer_and_timestamps_have_the_legacy_format() {
    let r = get("/api/conversations?limit=1000").await;
    for c in r.body["conversations"].as_array().unwrap() {
        assert!(c["ai_enabled"] == json!(0) || c["ai_enabled"] == json!(1), "{c}");
        let t = c["last_message_at"].as_str().unwrap();
        assert_eq!(t.len(), 19);
        assert_eq!(&t[10..11], " ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_time_is_now_in_app_timezone() {
    let r = get("/api/conversations/1/messages").await;
    let server_time = r.body["server_time"].as_str().unwrap();
    let now = jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M").to_string();
    assert!(server_time.starts_with(&now[..13]), "{server_time} vs {now}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_before_cursor_past_the_conversations_messages_is_a_400() {
    let total = get("/api/conversations/1/messages").await.body["total"]
        .as_u64()
        .unwrap();
    // Well-formed and signed for conversation 1, but no answer could have issued it.
    let forged = shared::cursor::BeforeCursor { position: total + 1 }.encode(1);
    let r = get(&format!("/api/conversations/1/messages?before={forged}")).await;
    assert_error(&r, 400, "invalid_parameter", "Error al obtener mensajes");
    // The cursor just past the newest message is the newest page: still a valid cursor.
    let at_end = shared::cursor::BeforeCursor { position: total }.encode(1);
    let r = get(&format!("/api/conversations/1/messages?before={at_end}&limit=3")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["messages"].as_array().unwrap().len() as u64, total.min(3));
}
