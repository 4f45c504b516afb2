//! `convo-admin sync` (the release binary) against a private MariaDB server and DynamoDB
//! Local: the throughput of a first run over a loaded legacy database, then the lag of
//! `--follow` at a steady 20 messages a second for 60 s, from each insert's commit in
//! MySQL to the message being visible through the store's page read (the API's read), and
//! on to the first poll of the original page that reports it: a page with the message's
//! conversation open (polling every 1.5 s, at a random phase) and an inbox page (every 3 s),
//! each sending back the previous answer's `server_time` as the page does.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use integration_tests::apigw::{event, invoke};
use integration_tests::legacy_api::app_for;
use serde_json::Value;
use shared::http::App;

use integration_tests::mariadb::{LegacyDb, mariadb};
use integration_tests::{dynamodb, sdk_config, unique_table_name, workspace_root};
use mysql_async::prelude::Queryable;
use shared::{Store, client};

use crate::{Results, timed_admin};

const SECTION: &str = "sync from MySQL";
const CONVERSATIONS: u64 = 2_000;
const MESSAGES_PER_CONVERSATION: u64 = 25;
const RATE: u64 = 20;
const SECONDS: u64 = 60;

/// The legacy database: CONVERSATIONS conversations of MESSAGES_PER_CONVERSATION messages,
/// every 5th a bot reply with 4 KB of RAG context.
async fn load(db: &LegacyDb) {
    let mut conn = db.admin().await;
    let rows: Vec<String> = (1..=CONVERSATIONS)
        .map(|c| format!("({c}, '57{c:010}', 'Contact {c}', NOW() - INTERVAL {c} MINUTE)"))
        .collect();
    for chunk in rows.chunks(1000) {
        conn.query_drop(format!(
            "INSERT INTO conversations (id, phone_number, contact_name, last_message_at) VALUES {}",
            chunk.join(",")
        ))
        .await
        .expect("insert conversations");
    }
    let context = "contexto RAG ".repeat(300);
    let mut batch = Vec::with_capacity(1000);
    for c in 1..=CONVERSATIONS {
        for m in 0..MESSAGES_PER_CONVERSATION {
            batch.push(if m % 5 == 4 {
                format!(
                    "({c}, 'bot', 'Respuesta {m}: con gusto te ayudo con tu pedido.', '{context}', 0.9, NOW() - INTERVAL {} SECOND)",
                    c * 60 - m
                )
            } else {
                format!(
                    "({c}, 'user', 'Mensaje {m} del cliente', NULL, NULL, NOW() - INTERVAL {} SECOND)",
                    c * 60 - m
                )
            });
            if batch.len() == 1000 {
                insert_messages(&mut conn, &batch).await;
                batch.clear();
            }
        }
    }
    insert_messages(&mut conn, &batch).await;
    conn.disconnect().await.expect("disconnect");
}

async fn insert_messages(conn: &mut mysql_async::Conn, rows: &[String]) {
    if rows.is_empty() {
        return;
    }
    conn.query_drop(format!(
        "INSERT INTO messages (conversation_id, sender_type, message_text, context_used, confidence_score, created_at) VALUES {}",
        rows.join(",")
    ))
    .await
    .expect("insert messages");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub async fn sync(r: &mut Results) {
    let _ = dynamodb();
    let db = mariadb().database("bench_sync").await;
    eprintln!(
        "loading {} messages into MariaDB …",
        CONVERSATIONS * MESSAGES_PER_CONVERSATION
    );
    load(&db).await;
    let table = unique_table_name("bench-sync");
    tokio::task::block_in_place(|| timed_admin(&["--table", &table, "create-table"]));

    let rows = CONVERSATIONS * (MESSAGES_PER_CONVERSATION + 1);
    eprintln!("first sync of {rows} rows …");
    let (secs, rss) =
        tokio::task::block_in_place(|| timed_admin(&["--table", &table, "sync", "--mysql", &db.reader_url]));
    r.add(
        SECTION,
        format!(
            "first run into an empty table: {} messages, {CONVERSATIONS} conversations (each through the change path: transactions of up to 97 messages)",
            CONVERSATIONS * MESSAGES_PER_CONVERSATION
        ),
        format!("{:.0} rows/s ({secs:.1} s)", rows as f64 / secs),
    );
    r.add(SECTION, "peak RSS of that run", crate::mb(rss));
    let (secs, _) =
        tokio::task::block_in_place(|| timed_admin(&["--table", &table, "sync", "--mysql", &db.reader_url]));
    r.add(
        SECTION,
        "a second run, nothing new (a restart with no checkpoint would compare the same way)",
        format!("{secs:.1} s"),
    );

    eprintln!("measuring lag: {RATE} messages/s for {SECONDS} s under sync --follow …");
    let admin = workspace_root().join("target/release/convo-admin");
    let mut follow = Command::new(&admin)
        .args(["--table", &table, "sync", "--follow"])
        .env("LEGACY_MYSQL_URL", &db.reader_url)
        .env("AWS_ENDPOINT_URL_DYNAMODB", &dynamodb().endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start convo-admin sync --follow");
    let store = Store::new(client::dynamodb_client(&sdk_config().await), &table);
    let app = Arc::new(app_for(&table).await);
    let Lags {
        visible: lags,
        conversation_poll,
        inbox_poll,
    } = steady_writes(&db, &store, &app).await;
    let _ = Command::new("kill")
        .args(["-TERM", &follow.id().to_string()])
        .status();
    let status = follow.wait().expect("wait for sync --follow");
    assert!(status.success(), "sync --follow ended with {status}");
    // docs/migration.md's end-to-end budgets ("How soon the page shows a change"): the sync's interval (2 s) and a round (≤ 2 s), then
    // the page's poll interval.
    for (what, mut lags, budget) in [
        ("visible in the API", lags, None),
        (
            "reported by the open conversation's poll (the page's check-updates.php every 1.5 s)",
            conversation_poll,
            Some(Duration::from_millis(5500)),
        ),
        (
            "reported by the inbox poll (check-conversation-updates.php every 3 s)",
            inbox_poll,
            Some(Duration::from_secs(7)),
        ),
    ] {
        lags.sort_unstable();
        let what = format!(
            "lag at {RATE} messages/s for {SECONDS} s, --follow at its default 2 s interval: commit in MySQL → {what} ({} messages)",
            lags.len()
        );
        let p99 = percentile(&lags, 0.99);
        let value = format!(
            "p50 {:.2} s, p99 {:.2} s, max {:.2} s",
            percentile(&lags, 0.5).as_secs_f64(),
            p99.as_secs_f64(),
            lags.last().map_or(0.0, Duration::as_secs_f64)
        );
        match budget {
            Some(budget) => r.check(
                SECTION,
                what,
                value,
                format!("p99 ≤ {:.1} s", budget.as_secs_f64()),
                p99 <= budget,
            ),
            None => r.add(SECTION, what, value),
        }
    }
}

/// Each message's lag from its commit in MySQL.
struct Lags {
    visible: Vec<Duration>,
    conversation_poll: Vec<Duration>,
    inbox_poll: Vec<Duration>,
}

/// The page's poll interval with a conversation open, and the inbox's.
const CONVERSATION_POLL: Duration = Duration::from_millis(1500);
const INBOX_POLL: Duration = Duration::from_millis(3000);
/// A change not reported by then is lost (the bench fails).
const REPORTED_WITHIN: Duration = Duration::from_secs(60);

async fn get(app: &App, url: &str) -> Value {
    let reply = invoke(app, &event("GET", url)).await;
    assert_eq!(reply.status, 200, "{url}: {}", reply.body);
    reply.body
}

fn server_time(body: &Value) -> String {
    body["server_time"]
        .as_str()
        .expect("server_time")
        .replace(' ', "%20")
        .replace(':', "%3A")
}

/// A page with conversation `id` open since before the message's commit (its
/// `last_check` from the message page it loaded then): polls every 1.5 s from a random
/// phase until an answer says `has_update`; the time from `committed` to that answer.
async fn open_conversation_poll(app: Arc<App>, id: u64, last_check: String, committed: Instant) -> Duration {
    let mut last_check = last_check;
    tokio::time::sleep(CONVERSATION_POLL.mul_f64(fastrand::f64())).await;
    let mut every = tokio::time::interval(CONVERSATION_POLL);
    while committed.elapsed() < REPORTED_WITHIN {
        every.tick().await;
        let body = get(
            &app,
            &format!("/api/check-updates.php?last_check={last_check}&conversation_id={id}"),
        )
        .await;
        if body["has_update"] == Value::Bool(true) {
            return committed.elapsed();
        }
        last_check = server_time(&body);
    }
    panic!("a message of conversation {id} was never reported by its page's poll");
}

/// Messages committed and not yet reported by the inbox poll: conversation → commits.
type Unreported = Arc<Mutex<HashMap<u64, Vec<Instant>>>>;

/// The inbox page: polls every 3 s for the whole run; each answer reports the pending
/// messages of the conversations it lists (or all of them when it lists `POLL_LIMIT`: the
/// page reloads the whole inbox then).
async fn inbox_poll(app: Arc<App>, unreported: Unreported, lags: Arc<Mutex<Vec<Duration>>>) {
    let mut last_check = server_time(&get(&app, "/api/check-updates.php").await);
    let mut every = tokio::time::interval(INBOX_POLL);
    loop {
        every.tick().await;
        let body = get(
            &app,
            &format!("/api/check-conversation-updates.php?last_check={last_check}"),
        )
        .await;
        last_check = server_time(&body);
        let listed: Vec<u64> = body["updated_conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_u64().unwrap())
            .collect();
        let whole = listed.len() >= shared::http::POLL_LIMIT;
        let now = Instant::now();
        let mut pending = unreported.lock().unwrap();
        let reported: Vec<u64> = if whole {
            pending.keys().copied().collect()
        } else {
            listed.into_iter().filter(|id| pending.contains_key(id)).collect()
        };
        for id in reported {
            for committed in pending.remove(&id).unwrap_or_default() {
                lags.lock().unwrap().push(now - committed);
            }
        }
    }
}

/// Inserts RATE messages a second for SECONDS seconds (autocommit, each with its
/// conversation's last_message_at, as the legacy webhook does) while polling the store for
/// each one, with a page open on its conversation and an inbox page polling; returns each
/// message's lags.
async fn steady_writes(db: &LegacyDb, store: &Store, app: &Arc<App>) -> Lags {
    let unreported: Unreported = Arc::default();
    let inbox_lags: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let inbox = tokio::spawn(inbox_poll(app.clone(), unreported.clone(), inbox_lags.clone()));
    let mut pages = Vec::new();
    let mut conn = db.admin().await;
    let total = RATE * SECONDS;
    let mut pending: HashMap<u64, (u64, Instant)> = HashMap::new();
    let mut lags = Vec::with_capacity(total as usize);
    let started = Instant::now();
    let mut written = 0;
    let deadline = Duration::from_secs(SECONDS + 60);
    while (written < total || !pending.is_empty()) && started.elapsed() < deadline {
        // Writes due by now, at the steady rate.
        let due = (started.elapsed().as_secs_f64() * RATE as f64) as u64;
        while written < due.min(total) {
            let conversation = 1 + (written * 7919) % CONVERSATIONS;
            // The page opened this conversation before the message: its `last_check`.
            let opened = get(
                app,
                &format!("/api/get-conversation-messages.php?id={conversation}&offset=0&limit=20"),
            )
            .await;
            conn.query_drop(format!(
                "INSERT INTO messages (conversation_id, sender_type, message_text) VALUES ({conversation}, 'user', 'live {written}')"
            ))
            .await
            .expect("insert a live message");
            let committed = Instant::now();
            let id: u64 = conn
                .query_first("SELECT LAST_INSERT_ID()")
                .await
                .unwrap()
                .unwrap();
            conn.query_drop(format!(
                "UPDATE conversations SET last_message_at = NOW() WHERE id = {conversation}"
            ))
            .await
            .expect("update the conversation");
            pending.insert(id, (conversation, committed));
            unreported
                .lock()
                .unwrap()
                .entry(conversation)
                .or_default()
                .push(committed);
            pages.push(tokio::spawn(open_conversation_poll(
                app.clone(),
                conversation,
                server_time(&opened),
                committed,
            )));
            written += 1;
        }
        // Which pending messages the API shows now.
        let mut by_conversation: HashMap<u64, Vec<u64>> = HashMap::new();
        for (id, (c, _)) in &pending {
            by_conversation.entry(*c).or_default().push(*id);
        }
        for (c, ids) in by_conversation {
            let page = store.message_page(c, 0, 20).await.expect("read a page");
            for id in ids {
                if page.messages.iter().any(|m| m.id == id) {
                    let (_, committed) = pending.remove(&id).unwrap();
                    lags.push(committed.elapsed());
                }
            }
        }
        // The next write is due in 1/RATE s; polling faster than that only adds load.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        pending.is_empty(),
        "{} messages never became visible",
        pending.len()
    );
    conn.disconnect().await.expect("disconnect");
    let mut conversation_poll = Vec::with_capacity(pages.len());
    for page in pages {
        conversation_poll.push(page.await.expect("a page's poll"));
    }
    let reported_by = Instant::now() + REPORTED_WITHIN;
    while !unreported.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < reported_by,
            "messages never reported by the inbox poll: {:?}",
            unreported.lock().unwrap().keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(INBOX_POLL).await;
    }
    inbox.abort();
    let inbox_poll = std::mem::take(&mut *inbox_lags.lock().unwrap());
    Lags {
        visible: lags,
        conversation_poll,
        inbox_poll,
    }
}
