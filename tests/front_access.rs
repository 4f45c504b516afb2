//! `ACCESS=front`: the functions answer only requests that carry the front's secret header
//! (CloudFront or the PHP host's nginx adds it after signing the user in). Everything else —
//! the API's own `execute-api` address, a guessed or stale secret — gets 403 in the legacy
//! envelope before any DynamoDB request, counted here at the wire by a relay in front of
//! DynamoDB Local. During a rotation both the current and the previous secret pass.

use integration_tests::apigw::{self, Reply, invoke};
use integration_tests::faults::{FaultyEndpoint, app_via};
use integration_tests::{dynamodb, seeded_app, workspace_root};
use serde_json::{Value, json};
use shared::http::App;

/// The example secret of `events/front/` (and `events/front/env.json`).
const SECRET: &str = "EXAMPLE-front-secret-replace-me-0123456789";
const PREVIOUS: &str = "the-secret-before-the-rotation-0123456789";

/// The eleven routes, as the page calls them.
const ROUTES: [&str; 11] = [
    "/api/conversations",
    "/api/conversations/counts",
    "/api/get-conversation-counts.php",
    "/api/stats",
    "/api/conversations/1/messages",
    "/api/get-conversations",
    "/api/get-conversations.php",
    "/api/get-conversation-messages?id=1",
    "/api/get-conversation-messages.php?id=1",
    "/api/check-updates.php",
    "/api/check-conversation-updates.php?last_check=2024-01-15%2014:30:25",
];

/// A front-mode app whose every DynamoDB request passes a counting relay.
async fn front_app(vars: &[(&str, &str)]) -> (App, FaultyEndpoint) {
    let app = seeded_app("front", vars).await;
    let relay = FaultyEndpoint::timing(&dynamodb().endpoint);
    let app = app_via(&app, &relay.url).await;
    (app, relay)
}

fn with_headers(path_and_query: &str, headers: &[(&str, &str)]) -> Value {
    let mut event = apigw::event("GET", path_and_query);
    for (name, value) in headers {
        event["headers"][*name] = json!(value);
    }
    event
}

fn assert_refused(reply: &Reply, path: &str) {
    integration_tests::openapi::OpenApi::get()
        .check(path, reply)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let path = path.split('?').next().unwrap();
    let route = apigw::handler_of(path);
    assert_eq!(reply.status, 403, "{path}: {}", reply.body);
    assert_eq!(reply.body["success"], json!(false), "{path}");
    assert_eq!(reply.body["error"], json!(route.legacy_error), "{path}");
    assert_eq!(reply.body["code"], json!("forbidden"), "{path}");
    assert!(reply.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{path}");
    let text = reply.body.to_string();
    assert!(
        !text.contains(SECRET) && !text.contains("x-origin-verify"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_secret_every_route_is_403_before_any_dynamodb_request() {
    let (app, relay) = front_app(&[("ACCESS", "front"), ("FRONT_SECRET", SECRET)]).await;
    let wrong = format!("{}X", &SECRET[..SECRET.len() - 1]);
    let repeated = format!("{SECRET},{SECRET}");
    let refused: [&[(&str, &str)]; 6] = [
        &[],
        &[("x-origin-verify", "")],
        &[("x-origin-verify", &wrong)],
        &[("x-origin-verify", &SECRET[..SECRET.len() - 1])],
        &[("x-origin-verify", &repeated)],
        // The header's name in another case is another header (API Gateway lowercases them).
        &[("X-Origin-Verify", SECRET), ("x-dashboard-user", "ana")],
    ];
    for path in ROUTES {
        for headers in refused {
            let reply = invoke(&app, &with_headers(path, headers)).await;
            assert_refused(&reply, path);
        }
        // Any method: refused before the method is looked at.
        let mut post = with_headers(path, &[]);
        post["requestContext"]["http"]["method"] = json!("POST");
        assert_refused(&invoke(&app, &post).await, path);
    }
    assert_eq!(relay.requests(), 0, "a refused request sent DynamoDB a request");

    // The same requests with the secret are served, and reach DynamoDB.
    for path in ROUTES {
        let reply = invoke(&app, &with_headers(path, &[("x-origin-verify", SECRET)])).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert_eq!(reply.body["success"], json!(true), "{path}");
    }
    assert!(relay.requests() > 0, "{}", relay.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_rotation_the_current_and_the_previous_secret_pass() {
    let (app, relay) = front_app(&[
        ("ACCESS", "front"),
        ("FRONT_SECRET", SECRET),
        ("FRONT_SECRET_PREVIOUS", PREVIOUS),
    ])
    .await;
    for secret in [SECRET, PREVIOUS] {
        let reply = invoke(
            &app,
            &with_headers("/api/conversations", &[("x-origin-verify", secret)]),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let before = relay.requests();
    let other = "a-third-secret-nobody-configured-0123456789";
    assert_refused(
        &invoke(
            &app,
            &with_headers("/api/conversations", &[("x-origin-verify", other)]),
        )
        .await,
        "/api/conversations",
    );
    assert_eq!(relay.requests(), before);
}

/// `events/front/`: what a deployed front-mode function receives; `signed-in` is served,
/// each `error-*` refused. `env.json` holds the settings (`sam local invoke --env-vars`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_event_files_get_the_answer_their_name_promises() {
    let env: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("events/front/env.json")).unwrap(),
    )
    .unwrap();
    let vars = env["GetConversationsFunction"].as_object().unwrap();
    assert_eq!(vars, env["GetConversationMessagesFunction"].as_object().unwrap());
    let vars: Vec<(&str, &str)> = vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
        .collect();
    assert!(vars.contains(&("FRONT_SECRET", SECRET)));
    let (app, relay) = front_app(&vars).await;
    let mut seen = 0;
    for entry in std::fs::read_dir(workspace_root().join("events/front")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        if name == "env" {
            continue;
        }
        seen += 1;
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let before = relay.requests();
        let reply = invoke(&app, &event).await;
        if name.starts_with("error-") {
            assert_refused(&reply, event["rawPath"].as_str().unwrap());
            assert_eq!(relay.requests(), before, "{name}");
        } else {
            assert_eq!(reply.status, 200, "{name}: {}", reply.body);
        }
    }
    assert!(seen >= 5, "{seen} event files");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_mode_without_a_secret_does_not_start() {
    for vars in [
        vec![("ACCESS", "front")],
        vec![("ACCESS", "front"), ("FRONT_SECRET", "too-short")],
    ] {
        let e = shared::config::Config::from_lookup(|k| {
            if k == "TABLE_NAME" {
                return Some("t".into());
            }
            vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        })
        .unwrap_err();
        assert!(e.to_string().contains("FRONT_SECRET"), "{e}");
    }
}
