//! The dashboard's live updates with the cutover's whole write path in the loop: rows
//! written into a real MariaDB (the legacy schema), `convo-admin sync --follow` (the binary,
//! its default 2 s interval) carrying them into DynamoDB Local, and a page
//! that polls the API's handlers exactly as the original `conversations.js` does: the open
//! conversation every 1.5 s with `last_check` = the previous answer's `server_time`
//! (reloading the newest 20 messages on `has_update`, whose `server_time` becomes the next
//! `last_check`), the inbox every 3 s (reloading the list on `has_updates`).
//!
//! Every change must show up on the page, and be reported by one or two polls of each kind
//! that it concerns: messages dated 0–5 s before sync writes them, a message committed 30 s
//! after its `created_at` (a long transaction), status and `ai_enabled` changes and a new
//! conversation, all arriving late by the sync's own lag.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use convo_admin::cli::{Cli, run};
use integration_tests::apigw::{Reply, event, invoke};
use integration_tests::legacy_api::app_for;
use integration_tests::mariadb::{LegacyDb, mariadb};
use integration_tests::{sdk_config, unique_table_name};
use mysql_async::prelude::Queryable;
use serde_json::Value;
use shared::http::App;
use tokio::sync::watch;

/// How long a change may take to show on the page before it counts as lost: far beyond
/// the sync's interval and the polls' (a loaded 2-core machine).
const SHOWN_WITHIN: Duration = Duration::from_secs(60);
/// The conversation the page has open.
const OPEN: u64 = 1;

async fn admin(table: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec!["convo-admin", "--table", table];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv)?, &sdk_config().await).await
}

/// `convo-admin sync --follow` as the cutover runs it: the binary, its default interval,
/// reading MySQL as the SELECT-only user. Its window (how long a transaction may stay open
/// and still be carried over) is 120 s rather than 60: the test's long transaction commits
/// 30 s after its insert, and the changes made meanwhile may take longer than that on a
/// loaded machine; what a window misses is the sync's matter (admin/tests/sync.rs), not
/// the polls'.
fn start_sync(table: &str, db: &LegacyDb, log: &Path) -> Child {
    let args = ["--follow", "--window", "120s"];
    db.sync_process(env!("CARGO_BIN_EXE_convo-admin"), table, &args, &[], log)
}

/// What the page has seen and shown so far.
#[derive(Debug, Default, Clone)]
struct Seen {
    /// Per-conversation polls answered, and those that said `has_update`.
    conversation_polls: u32,
    conversation_reports: u32,
    /// The texts of the open conversation's messages, as its last reload showed them.
    shown: Vec<String>,
    /// Inbox polls answered, and those that said `has_updates`.
    inbox_polls: u32,
    inbox_reports: u32,
    /// The inbox as its last reload listed it.
    inbox: Vec<Value>,
}

#[derive(Clone, Copy, Debug)]
enum Poll {
    Conversation,
    Inbox,
}

/// The page: two pollers over the handlers, their findings in `seen`, each answer
/// announced on `tick` so that the test waits on what the page sees, not on time.
struct Page {
    seen: Arc<Mutex<Seen>>,
    tick: watch::Receiver<u64>,
    pollers: Vec<tokio::task::JoinHandle<()>>,
}

async fn get(app: &App, url: &str) -> Reply {
    let reply = invoke(app, &event("GET", url)).await;
    assert_eq!(reply.status, 200, "{url}: {}", reply.body);
    reply
}

fn server_time(r: &Reply) -> String {
    r.body["server_time"].as_str().expect("server_time").to_string()
}

fn enc(s: &str) -> String {
    s.replace(' ', "%20").replace(':', "%3A")
}

async fn load_messages(app: &App) -> (Vec<String>, String) {
    let r = get(
        app,
        &format!("/api/get-conversation-messages.php?id={OPEN}&offset=0&limit=20"),
    )
    .await;
    let texts = r.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_text"].as_str().unwrap().to_string())
        .collect();
    (texts, server_time(&r))
}

async fn load_inbox(app: &App) -> Vec<Value> {
    get(app, "/api/get-conversations.php").await.body["conversations"]
        .as_array()
        .unwrap()
        .clone()
}

impl Page {
    /// Opens the page on conversation `OPEN`, as `conversations.js` does.
    async fn open(app: App) -> Page {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (ticks, tick) = watch::channel(0u64);
        let ticks = Arc::new(ticks);
        let app = Arc::new(app);
        let (shown, mut last_check) = load_messages(&app).await;
        let inbox = load_inbox(&app).await;
        {
            let mut s = seen.lock().unwrap();
            s.shown = shown;
            s.inbox = inbox;
        }
        let conversation = {
            let (app, seen, ticks) = (app.clone(), seen.clone(), ticks.clone());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_millis(1500));
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                every.tick().await;
                loop {
                    every.tick().await;
                    let url = format!(
                        "/api/check-updates.php?last_check={}&conversation_id={OPEN}",
                        enc(&last_check)
                    );
                    let r = get(&app, &url).await;
                    last_check = server_time(&r);
                    let reload = if r.body["has_update"] == Value::Bool(true) {
                        let (texts, time) = load_messages(&app).await;
                        last_check = time;
                        Some(texts)
                    } else {
                        None
                    };
                    let mut s = seen.lock().unwrap();
                    s.conversation_polls += 1;
                    if let Some(texts) = reload {
                        s.conversation_reports += 1;
                        s.shown = texts;
                    }
                    drop(s);
                    ticks.send_modify(|n| *n += 1);
                }
            })
        };
        let inbox = {
            let (app, seen, ticks) = (app.clone(), seen.clone(), ticks.clone());
            tokio::spawn(async move {
                // The page's first inbox poll asks for the server's time alone.
                let mut last_check = server_time(&get(&app, "/api/check-updates.php").await);
                let mut every = tokio::time::interval(Duration::from_millis(3000));
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                every.tick().await;
                loop {
                    every.tick().await;
                    let url = format!(
                        "/api/check-conversation-updates.php?last_check={}",
                        enc(&last_check)
                    );
                    let r = get(&app, &url).await;
                    last_check = server_time(&r);
                    let reload = if r.body["has_updates"] == Value::Bool(true) {
                        Some(load_inbox(&app).await)
                    } else {
                        None
                    };
                    let mut s = seen.lock().unwrap();
                    s.inbox_polls += 1;
                    if let Some(inbox) = reload {
                        s.inbox_reports += 1;
                        s.inbox = inbox;
                    }
                    drop(s);
                    ticks.send_modify(|n| *n += 1);
                }
            })
        };
        Page {
            seen,
            tick,
            pollers: vec![conversation, inbox],
        }
    }

    fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until the page has seen what `done` asks for; `None` after `within`.
    async fn until(&mut self, within: Duration, done: impl Fn(&Seen) -> bool) -> Option<Seen> {
        let wait = async {
            loop {
                let seen = self.seen();
                if done(&seen) {
                    return seen;
                }
                self.tick.changed().await.expect("the pollers run");
            }
        };
        tokio::time::timeout(within, wait).await.ok()
    }

    /// Waits for `n` more polls of each kind (a change reported late would be by then).
    async fn settle(&mut self, n: u32) -> Seen {
        let now = self.seen();
        self.until(SHOWN_WITHIN, |s| {
            s.conversation_polls >= now.conversation_polls + n && s.inbox_polls >= now.inbox_polls + n
        })
        .await
        .expect("the page keeps polling")
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        for p in &self.pollers {
            p.abort();
        }
    }
}

/// The inbox row of conversation `id`, as the page's list holds it.
fn row(seen: &Seen, id: u64) -> Option<&Value> {
    seen.inbox.iter().find(|c| c["id"] == id)
}

/// One change to MySQL, then: it shows on the page (`shown`), and each poll that it
/// concerns (`reported_by`) reports it once or twice — never more, as the page's polls
/// come after it was shown. Polls it does not concern report nothing.
async fn change(
    page: &mut Page,
    db: &LegacyDb,
    what: &str,
    sql: &str,
    reported_by: &[Poll],
    shown: impl Fn(&Seen) -> bool,
) {
    let before = page.seen();
    let mut conn = db.admin().await;
    conn.query_drop(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}\n{e}"));
    conn.disconnect().await.unwrap();
    observe(page, what, before, reported_by, shown).await;
}

async fn observe(
    page: &mut Page,
    what: &str,
    before: Seen,
    reported_by: &[Poll],
    shown: impl Fn(&Seen) -> bool,
) {
    if page.until(SHOWN_WITHIN, &shown).await.is_none() {
        panic!(
            "{what}: not shown on the page within {SHOWN_WITHIN:?}: {:?}",
            page.seen()
        );
    }
    // Two more polls of each kind: a third report of the change would come by then.
    let after = page.settle(2).await;
    let conversation = after.conversation_reports - before.conversation_reports;
    let inbox = after.inbox_reports - before.inbox_reports;
    let wants = |p: fn(&Poll) -> bool| reported_by.iter().any(p);
    let expect = |count: u32, concerned: bool, kind: &str| {
        if concerned {
            assert!(
                (1..=2).contains(&count),
                "{what}: reported by {count} {kind} polls"
            );
        } else {
            assert_eq!(
                count, 0,
                "{what}: reported by {count} {kind} polls, which it does not concern"
            );
        }
    };
    expect(
        conversation,
        wants(|p| matches!(p, Poll::Conversation)),
        "per-conversation",
    );
    expect(inbox, wants(|p| matches!(p, Poll::Inbox)), "inbox");
}

fn showing(text: &'static str) -> impl Fn(&Seen) -> bool {
    move |s: &Seen| s.shown.iter().any(|t| t == text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_sync_carries_late_is_reported_by_the_pages_polls_once_or_twice() {
    let table = unique_table_name("live");
    admin(&table, &["create-table"]).await.unwrap();
    let db = mariadb().database("live").await;
    let mut conn = db.admin().await;
    conn.query_drop(
        "INSERT INTO conversations (id, phone_number, contact_name) VALUES (1, '573001110001', 'Abierta'), (2, '573001110002', 'Otra');
         INSERT INTO messages (conversation_id, sender_type, message_text) VALUES (1, 'user', 'hola'), (1, 'bot', 'hola, ¿en qué te ayudo?'), (2, 'user', 'buenas');",
    )
    .await
    .unwrap();
    conn.disconnect().await.unwrap();
    admin(&table, &["sync", "--mysql", &db.reader_url]).await.unwrap();
    let log = std::env::temp_dir().join(format!("{table}.sync.log"));
    let mut sync = start_sync(&table, &db, &log);
    let mut page = Page::open(app_for(&table).await).await;
    assert!(showing("hola")(&page.seen()));
    // The first sync's writes may be reported once more to a page opened right after.
    page.settle(2).await;
    let both = [Poll::Conversation, Poll::Inbox];

    // A change of the open conversation other than a message: the inbox's poll only.
    // (Before the long transaction, whose insert locks the conversation's row in MySQL.)
    change(
        &mut page,
        &db,
        "status",
        &format!("UPDATE conversations SET status = 'pending_human' WHERE id = {OPEN}"),
        &[Poll::Inbox],
        |s| row(s, OPEN).is_some_and(|c| c["status"] == "pending_human"),
    )
    .await;

    // The long transaction: its message draws its id and created_at now, and commits last.
    let mut long = db.admin().await;
    long.query_drop("START TRANSACTION").await.unwrap();
    long.query_drop(format!(
        "INSERT INTO messages (conversation_id, sender_type, message_text) VALUES ({OPEN}, 'user', 'committed 30 s late')"
    ))
    .await
    .unwrap();
    let long_started = std::time::Instant::now();

    // Customer messages as the bot stores them, dated 0–5 s before the sync can write them.
    for (lag, text) in [(0, "lag 0 s"), (2, "lag 2 s"), (5, "lag 5 s")] {
        let sql = format!(
            "INSERT INTO messages (conversation_id, sender_type, message_text, created_at) \
             VALUES ({OPEN}, 'user', '{text}', NOW() - INTERVAL {lag} SECOND)"
        );
        change(&mut page, &db, text, &sql, &both, showing(text)).await;
    }
    change(
        &mut page,
        &db,
        "ai_enabled",
        "UPDATE conversations SET ai_enabled = 0 WHERE id = 2",
        &[Poll::Inbox],
        |s| row(s, 2).is_some_and(|c| c["ai_enabled"] == 0),
    )
    .await;
    change(
        &mut page,
        &db,
        "a new conversation",
        "INSERT INTO conversations (id, phone_number) VALUES (3, '573001110003');
         INSERT INTO messages (conversation_id, sender_type, message_text, created_at) VALUES (3, 'user', 'nuevo', NOW() - INTERVAL 3 SECOND);",
        &[Poll::Inbox],
        |s| row(s, 3).is_some(),
    )
    .await;

    // The long transaction commits 30 s after its message's created_at (at the first poll
    // of the page from then on): its message is older than the others and takes its place
    // among them.
    let commit_at = long_started + Duration::from_secs(30);
    page.until(Duration::from_secs(120), |_| {
        std::time::Instant::now() >= commit_at
    })
    .await
    .expect("the page keeps polling");
    let before = page.seen();
    long.query_drop("COMMIT").await.unwrap();
    long.disconnect().await.unwrap();
    observe(
        &mut page,
        "committed 30 s late",
        before,
        &both,
        showing("committed 30 s late"),
    )
    .await;
    let shown = page.seen().shown;
    let at = |t: &str| shown.iter().position(|s| s == t).unwrap();
    assert!(at("committed 30 s late") < at("lag 0 s"), "{shown:?}");

    sync.kill().unwrap();
    sync.wait().unwrap();
    let output = std::fs::read_to_string(&log).unwrap();
    assert!(
        !output.contains("573001110"),
        "no phone number in sync's output:\n{output}"
    );
}
