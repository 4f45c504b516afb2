//! The original dashboard's polling endpoints (`/api/check-updates.php`,
//! `/api/check-conversation-updates.php`) against DynamoDB Local: the legacy PHP's answers,
//! `last_check` in every form the page sends, a status change alone showing up, the bound
//! of an answer for a very old `last_check`, and what each poll reads from DynamoDB.

use integration_tests::apigw::{Reply, event, invoke};
use integration_tests::fixtures::{at, conversation, message};
use integration_tests::live_writes::LiveWrites;
use integration_tests::{fresh_store, sdk_config};
use serde_json::{Value, json};
use shared::config::Config;
use shared::http::App;
use shared::model::{Message, SenderType, Status};
use shared::{Conversation, Store, client};
use writer::Record;

const ZONE: &str = "America/Bogota";

/// Conversation `id` with one message at `at(secs)` (its last change too).
fn with_message(id: u64, status: Status, secs: i64) -> (Conversation, Message) {
    let m = message(1000 + id, id, 0, secs);
    let mut c = conversation(id, status, secs);
    c.message_count = 1;
    c.last_message = Some(m.summary());
    (c, m)
}

async fn load(store: &Store, rows: Vec<(Conversation, Option<Message>)>) {
    let mut records: Vec<Record> = rows
        .iter()
        .filter_map(|(_, m)| m.clone().map(Record::Message))
        .collect();
    records.extend(rows.into_iter().map(|(c, _)| Record::Conversation(c)));
    for chunk in records.chunks(25) {
        writer::Writer::of(store).put_records(chunk).await.unwrap();
    }
}

async fn app(store: &Store) -> App {
    let table = store.table_name().to_string();
    let config = Config::from_lookup(|k| match k {
        "TABLE_NAME" => Some(table.clone()),
        "APP_TIMEZONE" => Some(ZONE.to_string()),
        _ => None,
    })
    .unwrap();
    App {
        store: Store::new(client::dynamodb_client(&sdk_config().await), &config.table_name),
        config,
    }
}

/// `at(secs)` as the legacy API printed it (`server_time`'s format, in `ZONE`).
fn legacy(secs: i64) -> String {
    at(secs)
        .to_zoned(jiff::tz::TimeZone::get(ZONE).unwrap())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn enc(s: &str) -> String {
    s.replace(' ', "%20").replace(':', "%3A").replace('+', "%2B")
}

async fn get(app: &App, url: &str) -> Reply {
    let reply = invoke(app, &event("GET", url)).await;
    integration_tests::openapi::OpenApi::get()
        .check(url, &reply)
        .unwrap();
    reply
}

fn assert_poll_error(r: &Reply, detail: &str) {
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["success"], json!(false));
    assert_eq!(r.body["error"], json!("Error al verificar actualizaciones"));
    assert_eq!(r.body["code"], json!("invalid_parameter"));
    assert!(r.body["detail"].as_str().unwrap().contains(detail), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_last_check_the_poll_is_only_the_servers_time() {
    let store = fresh_store().await;
    let app = app(&store).await;
    for url in [
        "/api/check-updates.php",
        "/api/check-updates.php?last_check=",
        "/api/check-updates.php?conversation_id=5",
    ] {
        let r = get(&app, url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        let time = r.body["server_time"].as_str().unwrap().to_string();
        assert_eq!(
            r.body,
            json!({"success": true, "has_update": false, "has_updates": false, "server_time": time}),
            "{url}"
        );
        // server_time is the API's zone, in the legacy format, and parses back as last_check.
        let back = shared::http::params::last_check(&time, &jiff::tz::TimeZone::get(ZONE).unwrap()).unwrap();
        assert!((jiff::Timestamp::now().as_second() - back.as_second()).abs() <= 5);
    }
}

/// Writes conversation `c` (and message `m`) as the store wrote items before write stamps
/// existed: no `messages_changed`, and `changed` the later of its legacy times.
async fn load_unstamped(store: &Store, c: &Conversation, m: Option<&Message>) {
    let mut item = shared::item::conversation_to_item(c, at(0));
    item.remove(shared::table::MESSAGES_CHANGED);
    item.insert(
        shared::table::CHANGED.into(),
        shared::item::s(shared::table::activity(c.updated_at.max(c.last_message_at), c.id)),
    );
    let mut items = vec![item];
    items.extend(m.map(shared::item::message_to_item));
    for item in items {
        store
            .client()
            .put_item()
            .table_name(store.table_name())
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
}

/// `t` as the page sends a `server_time` back: whole seconds, in `ZONE`, legacy format.
fn as_sent(t: jiff::Timestamp) -> String {
    t.to_zoned(jiff::tz::TimeZone::get(ZONE).unwrap())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn whole_second(t: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second(t.as_second()).unwrap()
}

/// The stamp of the last write of conversation `id`'s messages.
async fn messages_stamp(store: &Store, id: u64) -> jiff::Timestamp {
    store
        .get_conversation(id)
        .await
        .unwrap()
        .and_then(|c| c.messages_changed)
        .expect("a stamped conversation")
}

async fn has_update(app: &App, id: &str, last_check: &str) -> Reply {
    let url = format!(
        "/api/check-updates.php?last_check={}&conversation_id={id}",
        enc(last_check)
    );
    let r = get(app, &url).await;
    assert_eq!(r.status, 200, "{last_check}: {}", r.body);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_conversations_poll_compares_when_messages_were_written_in_one_read() {
    let store = fresh_store().await;
    // Business times long ago: what counts is when the store wrote the message.
    let (c, m) = with_message(1, Status::Active, 100);
    load(
        &store,
        vec![(c, Some(m)), (conversation(2, Status::Closed, 50), None)],
    )
    .await;
    let app = app(&store).await;
    let written = messages_stamp(&store, 1).await;
    let margin = shared::store::MESSAGE_POLL_MARGIN;
    // A `last_check` of the write's own second, or before it, reports it; one whole second
    // after the stamp plus the margin does not. In every form the page sends.
    let first_not = whole_second(written + margin) + jiff::SignedDuration::from_secs(1);
    let offset = |t: jiff::Timestamp, hours: i8| {
        t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(hours)))
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    };
    let cases = [
        (as_sent(legacy_long_ago()), true),
        (as_sent(written - jiff::SignedDuration::from_secs(1)), true),
        (as_sent(written), true), // the same second
        (as_sent(first_not), false),
        (as_sent(first_not + jiff::SignedDuration::from_secs(1)), false),
        (written.to_string(), true),
        (offset(written, 2), true),
        (offset(first_not, -5), false),
        // RFC 3339 with a fraction compares in whole seconds, as the legacy times do.
        (
            format!(
                "{:.3}",
                whole_second(first_not) + jiff::SignedDuration::from_millis(999)
            ),
            false,
        ),
    ];
    for (t, expected) in cases {
        let r = has_update(&app, "1", &t).await;
        assert_eq!(
            r.body["has_update"],
            json!(expected),
            "last_check {t}, written {written}"
        );
        assert_eq!(r.body["conversation_id"], json!("1"), "echoed as a string");
        assert!(r.body.get("has_updates").is_none());
        let (has, cost) = store
            .has_message_after(
                1,
                shared::http::params::last_check(&t, &jiff::tz::TimeZone::get(ZONE).unwrap()).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(has, expected);
        assert_eq!((cost.items_read, cost.round_trips), (1, 1), "{cost:?}");
    }
    // A status change is no message: the open conversation does not reload for it.
    let before = whole_second(jiff::Timestamp::now());
    store.set_status(1, Status::Closed).await.unwrap();
    assert_eq!(messages_stamp(&store, 1).await, written);
    assert_eq!(
        has_update(&app, "1", &as_sent(first_not)).await.body["has_update"],
        json!(false)
    );
    // A message appended now, whose created_at is 30 s old (it committed late in MySQL):
    // reported to a page whose last_check is after that created_at.
    store
        .append_message(
            1,
            integration_tests::live_writes::NewMessage {
                created_at: Some(before - jiff::SignedDuration::from_secs(30)),
                ..integration_tests::live_writes::NewMessage::text(SenderType::Customer, "tarde")
            },
        )
        .await
        .unwrap();
    assert_eq!(
        has_update(&app, "1", &as_sent(before)).await.body["has_update"],
        json!(true)
    );

    // Echoed exactly as sent; a conversation without messages or unknown has no update.
    for (id, echoed) in [("0002", "0002"), ("2", "2"), ("404", "404")] {
        let r = has_update(&app, id, &as_sent(first_not)).await;
        assert_eq!(r.body["has_update"], json!(false), "{id}");
        assert_eq!(r.body["conversation_id"], json!(echoed));
    }
    let (_, cost) = store.has_message_after(404, at(0)).await.unwrap();
    assert_eq!((cost.items_read, cost.round_trips), (0, 1));
    // Malformed: 400 with the legacy text, never a 500.
    let r = get(
        &app,
        &format!(
            "/api/check-updates.php?last_check={}&conversation_id=1x",
            enc(&legacy(0))
        ),
    )
    .await;
    assert_poll_error(&r, "conversation_id");
    for bad in ["yesterday", "0", "2024-01-15", "1700000000"] {
        let r = get(
            &app,
            &format!("/api/check-updates.php?last_check={bad}&conversation_id=1"),
        )
        .await;
        assert_poll_error(&r, "last_check");
    }
}

fn legacy_long_ago() -> jiff::Timestamp {
    at(-86_400)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_written_before_write_stamps_answer_the_open_conversations_poll_as_before() {
    let store = fresh_store().await;
    let (c, m) = with_message(1, Status::Active, 100);
    load_unstamped(&store, &c, Some(&m)).await;
    load_unstamped(&store, &conversation(2, Status::Closed, 50), None).await;
    let app = app(&store).await;
    // The newest message's created_at, at(100), against T − 1 s (SAME_SECOND_MARGIN).
    for (t, expected) in [
        (legacy(99), true),
        (legacy(100), true),
        (legacy(101), false),
        ("2023-11-14T22:15:00.999Z".to_string(), true), // at(100) + 0.999 s: second 100
        ("2023-11-14T22:15:01.001Z".to_string(), false), // second 101
    ] {
        assert_eq!(
            has_update(&app, "1", &t).await.body["has_update"],
            json!(expected),
            "{t}"
        );
    }
    assert_eq!(
        has_update(&app, "2", &legacy(0)).await.body["has_update"],
        json!(false)
    );
    // The inbox polls read their old `changed` keys (legacy times) as before too.
    let r = get(
        &app,
        &format!(
            "/api/check-conversation-updates.php?last_check={}",
            enc(&legacy(60))
        ),
    )
    .await;
    assert_eq!(
        r.body["updated_conversations"],
        json!([{"id": 1, "last_message_at": legacy(100), "status": "active"}])
    );
    // The first write by this version stamps it: a message appended now is reported.
    let before = whole_second(jiff::Timestamp::now());
    store
        .append_message(
            1,
            integration_tests::live_writes::NewMessage::text(SenderType::Customer, "hola"),
        )
        .await
        .unwrap();
    assert_eq!(
        has_update(&app, "1", &as_sent(before)).await.body["has_update"],
        json!(true)
    );
    let r = get(
        &app,
        &format!(
            "/api/check-conversation-updates.php?last_check={}",
            enc(&as_sent(before))
        ),
    )
    .await;
    assert_eq!(r.body["updated_conversations"][0]["id"], json!(1), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_wide_check_lists_the_conversations_changed_since() {
    let store = fresh_store().await;
    let mut rows = Vec::new();
    for (id, secs) in [(1, 100), (2, 200), (3, 300), (4, 50)] {
        let (c, m) = with_message(id, Status::ALL[(id % 3) as usize], secs);
        rows.push((c, Some(m)));
    }
    let before = whole_second(jiff::Timestamp::now());
    load(&store, rows).await;
    let app = app(&store).await;
    let r = get(
        &app,
        &format!("/api/check-updates.php?last_check={}", enc(&as_sent(before))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["has_updates"], json!(true));
    // Newest activity first.
    assert_eq!(r.body["updated_conversations"], json!([3, 2, 1, 4]));
    // A page whose last_check is past every stamp by more than the margin: nothing.
    let quiet = whole_second(jiff::Timestamp::now() + shared::store::INDEX_POLL_MARGIN)
        + jiff::SignedDuration::from_secs(1);
    let r = get(
        &app,
        &format!("/api/check-updates.php?last_check={}", enc(&as_sent(quiet))),
    )
    .await;
    assert_eq!(r.body["has_updates"], json!(false), "{}", r.body);
    assert_eq!(r.body["updated_conversations"], json!([]));
    // Items read: the ones returned, and one.
    let changes = store.conversations_changed_after(before, 100).await.unwrap();
    let ids: Vec<u64> = changes.conversations.iter().map(|c| c.id).collect();
    assert_eq!(ids, [3, 2, 1, 4]);
    assert!(changes.cost.items_read <= 4 + 1, "{:?}", changes.cost);
    assert_eq!(changes.cost.round_trips, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_updates_list_new_messages_and_status_changes_alone() {
    let store = fresh_store().await;
    let mut rows = Vec::new();
    for (id, secs) in [(1, 100), (2, 200), (3, 300)] {
        let (c, m) = with_message(id, Status::Active, secs);
        rows.push((c, Some(m)));
    }
    rows.push((conversation(4, Status::Active, 80), None));
    rows.push((conversation(5, Status::Active, 90), None));
    // Written as before write stamps: their `changed` keys are their legacy times, long
    // ago (which the polls read as before), so that what follows is the only change.
    for (c, m) in &rows {
        load_unstamped(&store, c, m.as_ref()).await;
    }
    let app = app(&store).await;
    let poll = |t: String| {
        let app = &app;
        async move {
            get(
                app,
                &format!("/api/check-conversation-updates.php?last_check={}", enc(&t)),
            )
            .await
        }
    };
    let r = poll(legacy(150)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["updated_conversations"],
        json!([
            {"id": 3, "last_message_at": legacy(300), "status": "active"},
            {"id": 2, "last_message_at": legacy(200), "status": "active"},
        ])
    );
    assert_eq!(r.body["has_updates"], json!(true));
    assert!(r.body["server_time"].is_string());

    // A status change alone (no new message), and an ai_enabled change, show up for a
    // page whose last_check is now, whatever the conversations' legacy times.
    let since = whole_second(jiff::Timestamp::now());
    let r = poll(as_sent(since)).await;
    assert_eq!(r.body["has_updates"], json!(false), "{}", r.body);
    store.set_status(1, Status::PendingHuman).await.unwrap();
    store.set_ai_enabled(4, false).await.unwrap();
    let r = poll(as_sent(since)).await;
    let got = r.body["updated_conversations"].as_array().unwrap().clone();
    assert_eq!(
        got,
        [
            json!({"id": 1, "last_message_at": legacy(100), "status": "pending_human"}),
            json!({"id": 4, "last_message_at": legacy(80), "status": "active"}),
        ],
        "newest last_message_at first"
    );
    // Not for a page whose last_check is past the stamps by more than the margin.
    let quiet = whole_second(jiff::Timestamp::now() + shared::store::INDEX_POLL_MARGIN)
        + jiff::SignedDuration::from_secs(1);
    let r = poll(as_sent(quiet)).await;
    assert_eq!(r.body["has_updates"], json!(false), "{}", r.body);
    assert_eq!(r.body["updated_conversations"], json!([]));
    // A new message too, through the store's append, dated long ago.
    store
        .append_message(
            5,
            integration_tests::live_writes::NewMessage::text(SenderType::Customer, "hola"),
        )
        .await
        .unwrap();
    let changes = store.conversations_changed_after(since, 100).await.unwrap();
    let mut ids: Vec<u64> = changes.conversations.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 4, 5]);
    assert!(changes.cost.items_read <= 3 + 1, "{:?}", changes.cost);
    // Read from the index: no more than a query's half unit for these few small items.
    assert!(changes.cost.capacity_units <= 0.5, "{:?}", changes.cost);
    assert_eq!(changes.cost.round_trips, 1);

    // last_check is required here, and must be a time.
    let r = get(&app, "/api/check-conversation-updates.php").await;
    assert_poll_error(&r, "last_check is required");
    let r = get(&app, "/api/check-conversation-updates.php?last_check=").await;
    assert_poll_error(&r, "last_check is required");
    let r = get(&app, "/api/check-conversation-updates.php?last_check=noon").await;
    assert_poll_error(&r, "last_check must be a time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_very_old_last_check_gets_a_bounded_answer_at_a_bounded_cost() {
    let store = fresh_store().await;
    let rows = (1..=130)
        .map(|id| {
            let (c, m) = with_message(id, Status::Active, 100 + id as i64);
            (c, Some(m))
        })
        .collect();
    load(&store, rows).await;
    let app = app(&store).await;
    let bound = shared::http::POLL_LIMIT;
    let r = get(
        &app,
        &format!(
            "/api/check-conversation-updates.php?last_check={}",
            enc(&legacy(0))
        ),
    )
    .await;
    let listed = r.body["updated_conversations"].as_array().unwrap();
    assert_eq!(listed.len(), bound);
    assert_eq!(r.body["has_updates"], json!(true));
    // The most recently changed: 130 down to 31, newest last_message_at first.
    let ids: Vec<Value> = listed.iter().map(|c| c["id"].clone()).collect();
    assert_eq!(ids, (31..=130).rev().map(|i| json!(i)).collect::<Vec<_>>());
    let changes = store.conversations_changed_after(at(0), bound).await.unwrap();
    assert!(changes.more);
    assert!(
        changes.cost.items_read as usize <= bound + 1,
        "{:?}",
        changes.cost
    );
    assert_eq!(changes.cost.round_trips, 1);
    let r = get(
        &app,
        &format!("/api/check-updates.php?last_check={}", enc(&legacy(0))),
    )
    .await;
    assert_eq!(r.body["updated_conversations"].as_array().unwrap().len(), bound);
    assert_eq!(r.body["has_updates"], json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_answered_late_is_stamped_again_when_it_answered() {
    use integration_tests::faults::{Fault, FaultyEndpoint};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let store = fresh_store().await;
    let (c, m) = with_message(1, Status::Active, 100);
    load(&store, vec![(c, Some(m))]).await;
    // Transactions are held 600 ms before they reach DynamoDB (a slow network, or the
    // SDK retrying a throttled write): the change becomes readable well after its stamp.
    let restamps = Arc::new(AtomicUsize::new(0));
    let seen = restamps.clone();
    let slow =
        FaultyEndpoint::start_per_operation(&integration_tests::dynamodb().endpoint, move |_, op, body| {
            match op {
                "TransactWriteItems" => std::thread::sleep(std::time::Duration::from_millis(600)),
                // A re-stamp: a fresh stamp set on the conversation.
                "UpdateItem" if String::from_utf8_lossy(body).contains("SET #changed = :new") => {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            }
            Fault::Pass
        });
    let via = Store::new(
        client::dynamodb_client(&integration_tests::sdk_config_for(&slow.url).await),
        store.table_name(),
    );
    let sent = jiff::Timestamp::now();
    via.append_message(
        1,
        integration_tests::live_writes::NewMessage::text(SenderType::Customer, "lento"),
    )
    .await
    .unwrap();
    // Stamped again after the answer (more than once only if that too was slow).
    assert!(restamps.load(Ordering::SeqCst) >= 1);
    let written = messages_stamp(&store, 1).await;
    assert!(
        written >= sent + jiff::SignedDuration::from_millis(600),
        "{sent} → {written}"
    );
    // by_change holds the new stamp too: a poll whose last_check is the second the write
    // became readable reports it.
    let changes = store.conversations_changed_after(written, 10).await.unwrap();
    assert_eq!(
        changes.conversations.iter().map(|c| c.id).collect::<Vec<_>>(),
        [1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_messages_answer_takes_its_server_time_before_it_reads() {
    use integration_tests::faults::{Fault, FaultyEndpoint};
    let store = fresh_store().await;
    let (c, m) = with_message(1, Status::Active, 100);
    load(&store, vec![(c, Some(m))]).await;
    // The newest page's Query is held 2.5 s before it reaches DynamoDB: a message written
    // meanwhile is not in the answer, so the answer's server_time (the page's next
    // last_check) must be from before the read, or the next poll would never report it.
    let slow = FaultyEndpoint::start_per_operation(&integration_tests::dynamodb().endpoint, |_, op, _| {
        if op == "Query" {
            std::thread::sleep(std::time::Duration::from_millis(2500));
        }
        Fault::Pass
    });
    // The tests' client (its time-outs allow the hold), through the slow endpoint.
    let via = App {
        store: Store::new(
            client::dynamodb_client(&integration_tests::sdk_config_for(&slow.url).await),
            store.table_name(),
        ),
        config: app(&store).await.config,
    };
    let sent = jiff::Timestamp::now();
    let r = get(&via, "/api/get-conversation-messages.php?id=1&offset=0&limit=20").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let server_time = r.body["server_time"].as_str().unwrap();
    // The second the request came in (or the next, if it came at the end of one), not one
    // after its read.
    let soon = [as_sent(sent), as_sent(sent + jiff::SignedDuration::from_secs(1))];
    assert!(
        soon.iter().any(|t| t == server_time),
        "{server_time} not in {soon:?}"
    );
}
