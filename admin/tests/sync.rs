//! `convo-admin sync` and catch-up imports against a real MariaDB server (the legacy schema,
//! started by the harness) and DynamoDB Local: at the end of each test every API answer
//! equals what the legacy queries give on the MySQL data (`legacy_api::api_matches`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code"
)]

use integration_tests::live_writes::{LiveWrites, NewMessage};
use shared::model::SenderType;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use clap::Parser;
use convo_admin::cli::{Cli, run};
use convo_admin::sync::metrics::{DIMENSION, ROWS_APPLIED};
use convo_admin::sync::{self, legacy_db};
use integration_tests::iam::RecordingRelay;
use integration_tests::legacy_api::{Expected, api_matches, app_for, expected};
use integration_tests::mariadb::{LegacyDb, mariadb};
use integration_tests::{all_items, sdk_config, sdk_config_for, unique_table_name};
use mysql_async::prelude::Queryable;
use shared::Store;

/// How long a test waits for the sync to show what MySQL holds (a loaded 2-core machine).
const CONVERGE: Duration = Duration::from_secs(180);

/// Every request the sync and the imports make goes through this relay, and each test ends
/// by holding them to the IAM policy the stack ships for the sync (`SyncPolicy`).
fn relay() -> &'static RecordingRelay {
    static RELAY: OnceLock<RecordingRelay> = OnceLock::new();
    RELAY.get_or_init(RecordingRelay::start)
}

/// `convo-admin ARGS` in-process, through the relay.
async fn admin(table: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec!["convo-admin", "--table", table];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv)?, &sdk_config_for(&relay().url).await).await
}

/// The test's own reads, straight to DynamoDB Local.
async fn store_for(table: &str) -> Store {
    Store::new(shared::client::dynamodb_client(&sdk_config().await), table)
}

/// The store a sync run in-process writes through (the relay).
async fn sync_store_for(table: &str) -> Store {
    Store::new(
        shared::client::dynamodb_client(&sdk_config_for(&relay().url).await),
        table,
    )
}

/// A table (made with the deployer's rights, not the sync's) and a legacy database, both new.
async fn setup(prefix: &str) -> (String, LegacyDb) {
    let table = unique_table_name(prefix);
    let create = Cli::try_parse_from(["convo-admin", "--table", &table, "create-table"]).unwrap();
    run(create, &sdk_config().await).await.unwrap();
    (table, mariadb().database(prefix).await)
}

/// The end of every test: nothing the sync or an import asked DynamoDB for on `table` is
/// outside the stack's `SyncPolicy`.
fn assert_within_sync_policy(table: &str) {
    relay().assert_sync_policy_allows(table);
}

async fn sql(db: &LegacyDb, statements: &str) {
    let mut conn = db.admin().await;
    conn.query_drop(statements)
        .await
        .unwrap_or_else(|e| panic!("{statements}\n{e}"));
    conn.disconnect().await.unwrap();
}

/// Legacy rows that are hard to get right: equal times ordered by id, an id order that is
/// not the time order, a 60 KB text with RAG context, NULLs, a score, a conversation without
/// messages. Times are the legacy server's (-05:00, the session's zone).
const SEED: &str = "
INSERT INTO conversations (id, phone_number, contact_name, status, ai_enabled, last_message_at, created_at, updated_at) VALUES
  (1, '573001112233', 'María José 🎉', 'active', 1, '2024-01-15 09:30:25', '2024-01-10 04:00:00', '2024-01-15 09:30:25'),
  (2, '5550102', NULL, 'pending_human', 0, '2024-01-15 08:15:00', '2024-01-12 06:30:00', '2024-01-15 08:15:00'),
  (3, '573009998877', '', 'closed', 0, '2024-01-14 20:00:00', '2024-01-01 00:00:00', '2024-01-14 20:00:00');
INSERT INTO messages (id, conversation_id, message_id, sender_type, message_text, audio_url, media_type, context_used, confidence_score, created_at) VALUES
  (10, 1, 'wamid.1', 'user', 'Hola 👋', NULL, 'text', NULL, NULL, '2024-01-15 09:30:00'),
  (11, 1, NULL, 'bot', REPEAT('respuesta larga ', 4000), NULL, 'text', REPEAT('contexto RAG ', 5000), 0.92, '2024-01-15 09:30:05'),
  (12, 1, NULL, 'human', 'It''s \"quoted\"', '/uploads/audios/a.ogg', 'audio', NULL, NULL, '2024-01-15 09:30:25'),
  (22, 2, NULL, 'user', 'same second, highest id', NULL, 'text', NULL, NULL, '2024-01-15 08:15:00'),
  (20, 2, NULL, 'user', 'same second, lowest id', NULL, 'text', NULL, NULL, '2024-01-15 08:15:00'),
  (19, 2, NULL, 'bot', 'before them, with a lower id', NULL, 'image', '', 0.5, '2024-01-15 08:14:59');
";

/// Runs `convo-admin sync` once (in-process) and returns nothing: its lines go to stdout.
async fn sync_once(table: &str, db: &LegacyDb) -> anyhow::Result<()> {
    admin(table, &["sync", "--mysql", &db.reader_url]).await
}

/// A poll's answer (200) from the handlers.
async fn poll(app: &shared::http::App, url: &str) -> serde_json::Value {
    let reply = integration_tests::apigw::invoke(app, &integration_tests::apigw::event("GET", url)).await;
    assert_eq!(reply.status, 200, "{url}: {}", reply.body);
    reply.body
}

async fn assert_matches(table: &str, db: &LegacyDb) -> Expected {
    let want = expected(db).await;
    if let Err(e) = api_matches(&app_for(table).await, &want).await {
        panic!("the API differs from the legacy data: {e}");
    }
    want
}

/// Messages in the table, counted item by item (a message written twice, or left beyond a
/// conversation's count, shows here even where no page shows it).
async fn message_items(table: &str) -> usize {
    all_items(&store_for(table).await)
        .await
        .iter()
        .filter(|it| {
            it.get("sk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|sk| sk.starts_with("M#"))
        })
        .count()
}

async fn mysql_messages(db: &LegacyDb) -> usize {
    let mut conn = db.admin().await;
    let n: Option<u64> = conn.query_first("SELECT COUNT(*) FROM messages").await.unwrap();
    conn.disconnect().await.unwrap();
    n.unwrap_or(0) as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_brings_new_changed_and_older_rows_and_a_second_changes_nothing() {
    let (table, db) = setup("once").await;
    sql(&db, SEED).await;
    sync_once(&table, &db).await.unwrap();
    assert_matches(&table, &db).await;

    // What the bot and the dashboard do next: new messages (one dated before conversation
    // 1's newest, as a late commit would be), a status, an AI flag, a name, a new
    // conversation with its messages.
    sql(
        &db,
        "INSERT INTO messages (id, conversation_id, sender_type, message_text, media_type, created_at) VALUES
           (30, 1, 'user', 'newest', 'text', '2024-01-15 09:31:00'),
           (31, 1, 'user', 'older than two already there', 'text', '2024-01-15 09:30:01');
         UPDATE conversations SET last_message_at = '2024-01-15 09:31:00' WHERE id = 1;
         UPDATE conversations SET status = 'active' WHERE id = 2;
         UPDATE conversations SET ai_enabled = 1, contact_name = 'Ana' WHERE id = 3;
         INSERT INTO conversations (id, phone_number, status) VALUES (4, '573000000004', 'pending_human');
         INSERT INTO messages (conversation_id, sender_type, message_text) VALUES (4, 'user', 'first'), (4, 'bot', 'second');",
    )
    .await;
    sync_once(&table, &db).await.unwrap();
    assert_matches(&table, &db).await;
    assert_eq!(message_items(&table).await, mysql_messages(&db).await);

    // Nothing new: a run writes nothing.
    let before = all_items(&store_for(&table).await)
        .await
        .into_iter()
        .filter(|it| it.get("pk").and_then(|v| v.as_s().ok()) != Some(&"SYNC".to_string()))
        .collect::<Vec<_>>();
    sync_once(&table, &db).await.unwrap();
    let after = all_items(&store_for(&table).await)
        .await
        .into_iter()
        .filter(|it| it.get("pk").and_then(|v| v.as_s().ok()) != Some(&"SYNC".to_string()))
        .collect::<Vec<_>>();
    assert_eq!(after, before);
    assert_within_sync_policy(&table);
}

/// Waits until the API answers as the legacy data says, or fails after CONVERGE with the
/// last difference. Polls: the sync runs on its own clock.
async fn converge(table: &str, db: &LegacyDb) {
    let app = app_for(table).await;
    let started = Instant::now();
    loop {
        let want = expected(db).await;
        let last = match api_matches(&app, &want).await {
            Ok(()) => return,
            Err(e) => e,
        };
        assert!(
            started.elapsed() < CONVERGE,
            "the API still differs from the legacy data after {CONVERGE:?}: {last}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_committed_after_a_later_id_is_not_lost() {
    let (table, db) = setup("late").await;
    sql(&db, SEED).await;
    // Transaction A draws id 40 and stays open; B draws 41 and commits first.
    let mut a = db.admin().await;
    a.query_drop("START TRANSACTION").await.unwrap();
    a.query_drop(
        "INSERT INTO messages (id, conversation_id, sender_type, message_text) VALUES (40, 2, 'user', 'A: committed last')",
    )
    .await
    .unwrap();
    sql(
        &db,
        "INSERT INTO messages (id, conversation_id, sender_type, message_text) VALUES (41, 2, 'bot', 'B: committed first')",
    )
    .await;

    let store = sync_store_for(&table).await;
    let legacy = legacy_db::LegacyDb::new(&db.reader_url).unwrap();
    let options = sync::Options {
        follow: true,
        interval: Duration::from_millis(100),
        window: Duration::from_secs(60),
        batch: 1000,
        metrics: None,
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let follow = {
        let (store, legacy) = (store.clone(), legacy.clone());
        tokio::spawn(async move {
            sync::run(
                &writer::Writer::of(&store),
                &legacy,
                &options,
                stopped,
                &mut std::io::stdout(),
            )
            .await
        })
    };
    // B is in the table (message 41 shown, 40 not yet committed)...
    converge(&table, &db).await;
    let page = store.message_page(2, 0, 20).await.unwrap();
    assert_eq!(
        page.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        [19, 20, 22, 41]
    );
    // ...then A commits, with a lower id and an earlier time: it takes its place before B.
    a.query_drop("COMMIT").await.unwrap();
    a.disconnect().await.unwrap();
    converge(&table, &db).await;
    let page = store.message_page(2, 0, 20).await.unwrap();
    assert_eq!(
        page.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        [19, 20, 22, 40, 41]
    );

    stop.send(true).unwrap();
    let summary = follow.await.unwrap().unwrap();
    assert!(summary.counts.moved <= 1, "{summary}");
    assert_eq!(message_items(&table).await, mysql_messages(&db).await);
    legacy.disconnect().await;
    assert_within_sync_policy(&table);
}

/// `convo-admin sync --follow` as a process, reading MySQL as the SELECT-only user, writing
/// through the relay; `more` args and `env` added.
fn start_sync(table: &str, db: &LegacyDb, log: &Path, more: &[&str], env: &[(&str, &str)]) -> Child {
    let mut args = vec!["--follow", "--interval", "200ms", "--window", "1s"];
    args.extend_from_slice(more);
    let mut env = env.to_vec();
    env.push(("AWS_ENDPOINT_URL_DYNAMODB", &relay().url));
    db.sync_process(env!("CARGO_BIN_EXE_convo-admin"), table, &args, &env, log)
}

/// What the bot and the dashboard do to MySQL: write `n` changes, most of them messages
/// (some dated a few seconds back, as a slow insert would be), new conversations, status
/// and AI-flag changes.
async fn live_writer(db: &LegacyDb, first: usize, n: usize) {
    let mut conn = db.admin().await;
    for i in first..first + n {
        let conversation = 1 + (i * 7) % 3;
        let statement = match i % 10 {
            0 => format!("INSERT INTO conversations (phone_number) VALUES ('57300{i:05}')"),
            1 => format!(
                "UPDATE conversations SET status = ELT(1 + {i} % 3, 'active', 'closed', 'pending_human') WHERE id = {conversation}"
            ),
            2 => format!("UPDATE conversations SET ai_enabled = 1 - ai_enabled WHERE id = {conversation}"),
            3 => format!(
                "INSERT INTO messages (conversation_id, sender_type, message_text, created_at) \
                 VALUES ({conversation}, 'user', 'late {i}', NOW() - INTERVAL 3 SECOND)"
            ),
            // Half to the three first conversations, whose late messages (above) are then
            // older than their newest: those move up one place.
            4..=6 => format!(
                "INSERT INTO messages (conversation_id, sender_type, message_text) VALUES ({conversation}, 'user', 'now {i}'); \
                 UPDATE conversations SET last_message_at = NOW() WHERE id = {conversation}"
            ),
            _ => format!(
                "INSERT INTO messages (conversation_id, sender_type, message_text, context_used, confidence_score) \
                 VALUES ((SELECT MAX(id) FROM conversations), 'bot', 'reply {i}', 'RAG {i}', 0.75); \
                 UPDATE conversations SET last_message_at = NOW() WHERE id = (SELECT MAX(m.conversation_id) FROM messages m)"
            ),
        };
        conn.query_drop(&statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}\n{e}"));
        // Paces the writer (about 100 changes a second); nothing waits on it.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    conn.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_killed_with_sigkill_and_restarted_loses_and_doubles_nothing() {
    let (table, db) = setup("kill").await;
    sql(&db, SEED).await;
    let log = std::env::temp_dir().join(format!("{table}.log"));
    let mut child = start_sync(&table, &db, &log, &[], &[]);
    live_writer(&db, 0, 150).await;
    // SIGKILL in the middle of the writes: whatever round was in flight is cut short.
    child.kill().unwrap();
    child.wait().unwrap();
    live_writer(&db, 150, 50).await;
    let mut child = start_sync(&table, &db, &log, &[], &[]);
    live_writer(&db, 200, 150).await;
    converge(&table, &db).await;
    assert_eq!(message_items(&table).await, mysql_messages(&db).await);

    // SIGTERM: the round in flight ends, the checkpoint is saved, the exit is clean.
    let output = stop(&mut child, &log);
    assert!(output.contains("resuming after message"), "{output}");
    assert!(output.lines().any(|l| l.starts_with("sync: ")), "{output}");
    // Late messages were put before newer ones, and ids settled (window 1 s).
    assert!(output.contains("moved up for older ones"), "{output}");
    assert!(!output.contains("settled through id 0,"), "{output}");
    let checkpoint = writer::Writer::of(&store_for(&table).await)
        .sync_checkpoint("mysql")
        .await
        .unwrap();
    assert!(checkpoint.is_some());
    assert_within_sync_policy(&table);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_dump_catches_up_an_older_import_and_an_older_one_is_refused() {
    let (table, db) = setup("catchup").await;
    sql(&db, SEED).await;
    let dir = std::env::temp_dir().join(format!("{table}-dumps"));
    std::fs::create_dir_all(&dir).unwrap();
    let (older, newer) = (dir.join("older.sql"), dir.join("newer.sql"));
    db.dump(&older, &[]);
    let import = |path: &Path| {
        let path = path.display().to_string();
        let table = table.clone();
        async move { admin(&table, &["import", "--mysqldump", &path]).await }
    };
    import(&older).await.unwrap();
    assert_matches(&table, &db).await;

    sql(
        &db,
        "INSERT INTO messages (id, conversation_id, sender_type, message_text, created_at) VALUES
           (50, 1, 'bot', 'after the first dump', '2024-01-15 09:32:00'),
           (51, 2, 'user', 'older than conversation 2''s newest', '2024-01-15 08:14:00');
         UPDATE conversations SET status = 'closed', last_message_at = '2024-01-15 09:32:00' WHERE id = 1;
         INSERT INTO conversations (id, phone_number) VALUES (5, '573005555555');
         INSERT INTO messages (conversation_id, sender_type, message_text) VALUES (5, 'user', 'hola');",
    )
    .await;
    db.dump(&newer, &[]);
    // A page that polled just before the catch-up is told of what it brought, although
    // every row of it is dated long before that poll.
    let app = app_for(&table).await;
    let baseline = poll(&app, "/api/check-updates.php").await["server_time"]
        .as_str()
        .unwrap()
        .replace(' ', "%20");
    import(&newer).await.unwrap();
    assert_matches(&table, &db).await;
    assert_eq!(message_items(&table).await, mysql_messages(&db).await);
    for id in [1, 2, 5] {
        let url = format!("/api/check-updates.php?last_check={baseline}&conversation_id={id}");
        assert_eq!(poll(&app, &url).await["has_update"], true, "{url}");
    }
    let url = format!("/api/check-conversation-updates.php?last_check={baseline}");
    let listed: Vec<u64> = poll(&app, &url).await["updated_conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert!([1, 2, 5].iter().all(|id| listed.contains(id)), "{listed:?}");

    // The same dump again changes nothing; the older one would take data back: refused,
    // before anything is written.
    import(&newer).await.unwrap();
    let before = all_items(&store_for(&table).await).await;
    let refused = import(&older).await.unwrap_err();
    let text = format!("{refused:#}");
    assert!(text.contains("left as it is"), "{text}");
    assert_eq!(all_items(&store_for(&table).await).await, before);
    assert_matches(&table, &db).await;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_within_sync_policy(&table);
}

/// What a `sync::run` in a task prints, read by the test meanwhile.
#[derive(Clone, Default)]
struct Printed(Arc<Mutex<Vec<u8>>>);

impl Write for Printed {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Printed {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// The texts of a conversation's newest 20 messages, as the API answers them.
async fn texts(app: &shared::http::App, id: u64) -> Vec<String> {
    poll(app, &format!("/api/conversations/{id}/messages?limit=20")).await["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_text"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until the API shows `text` among conversation `id`'s newest messages, or fails
/// after CONVERGE. Polls: the sync runs on its own clock.
async fn until_shown(app: &shared::http::App, id: u64, text: &str) {
    let started = Instant::now();
    while !texts(app, id).await.iter().any(|t| t == text) {
        assert!(
            started.elapsed() < CONVERGE,
            "conversation {id} still lacks {text:?} after {CONVERGE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_divergent_conversation_is_quarantined_the_others_keep_syncing_and_a_rebuild_brings_it_back() {
    let (table, db) = setup("quarantine").await;
    sql(&db, SEED).await;
    sync_once(&table, &db).await.unwrap();
    let store = sync_store_for(&table).await;
    let writer = writer::Writer::of(&store);
    // Written to the table by something else than the sync: MySQL lacks it.
    let foreign = writer
        .append_message(1, NewMessage::text(SenderType::Human, "only in the table"))
        .await
        .unwrap();
    sql(
        &db,
        "INSERT INTO messages (conversation_id, sender_type, message_text) VALUES
           (1, 'user', 'new in MySQL'), (2, 'user', 'for conversation 2')",
    )
    .await;

    let legacy = legacy_db::LegacyDb::new(&db.reader_url).unwrap();
    let options = sync::Options {
        follow: true,
        interval: Duration::from_millis(100),
        window: Duration::from_secs(1),
        batch: 1000,
        metrics: None,
    };
    let printed = Printed::default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let follow = {
        let (writer, legacy, mut out) = (writer.clone(), legacy.clone(), printed.clone());
        tokio::spawn(async move { sync::run(&writer, &legacy, &options, stopped, &mut out).await })
    };
    let app = app_for(&table).await;

    // The sync does not stop: the other conversations keep syncing...
    until_shown(&app, 2, "for conversation 2").await;
    let started = Instant::now();
    while writer.quarantined().await.unwrap().is_empty() {
        assert!(started.elapsed() < CONVERGE, "{}", printed.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...and conversation 1 is left as it is, set aside: `--status` says why and since when,
    // its phone number masked.
    let status = sync::status(&writer).await.unwrap();
    let [q] = status.quarantined.as_slice() else {
        panic!("{status}");
    };
    assert_eq!(q.conversation_id, 1);
    assert!(
        ["message_not_in_source", "newer_in_table"].contains(&q.code.as_str()),
        "{status}"
    );
    assert!(q.reason.starts_with("conversation 1") && q.reason.ends_with("left as it is"));
    let shown = status.to_string();
    assert!(
        shown.contains("conversation 1, phone 5730•••2233, since ") && shown.contains(&q.reason),
        "{shown}"
    );
    assert!(shown.contains("checkpoint: messages settled through id ") && shown.contains(", lag "));
    assert!(!shown.contains("573001112233"), "{shown}");
    assert!(status.lag_seconds().is_some_and(|lag| lag < 60), "{shown}");
    let one = texts(&app, 1).await;
    assert!(one.contains(&"only in the table".to_string()) && !one.contains(&"new in MySQL".to_string()));

    // Later rounds skip it: its new message waits, another conversation's does not.
    sql(
        &db,
        "INSERT INTO messages (conversation_id, sender_type, message_text) VALUES
           (1, 'user', 'while quarantined'), (3, 'user', 'for conversation 3')",
    )
    .await;
    until_shown(&app, 3, "for conversation 3").await;
    assert!(!texts(&app, 1).await.contains(&"while quarantined".to_string()));

    // The rebuild replaces the table's copy with MySQL's: 5 messages over the table's 4. (The
    // table's message took its id from the table's counter, which MySQL's auto-increment
    // gave "new in MySQL" too: it is told apart by its time.)
    let rebuilt = sync::rebuild(&writer, &legacy, 1).await.unwrap();
    assert_eq!(
        rebuilt.to_string(),
        format!(
            "conversation 1 rebuilt from MySQL: 5 messages written (positions 0-4), 1 message \
             removed (only in the table: id {}, created {}), conversation item replaced (4 \
             messages -> 5), phone claim kept (5730•••2233); quarantine cleared ([{}] since {})",
            foreign.id, foreign.created_at, q.code, q.since
        )
    );
    assert!(writer.quarantined().await.unwrap().is_empty());
    let page = store.message_page(1, 0, 20).await.unwrap();
    let mut conn = db.admin().await;
    let in_mysql: Vec<u64> = conn
        .query("SELECT id FROM messages WHERE conversation_id = 1 ORDER BY created_at, id")
        .await
        .unwrap();
    conn.disconnect().await.unwrap();
    assert_eq!(page.messages.iter().map(|m| m.id).collect::<Vec<_>>(), in_mysql);
    assert_matches(&table, &db).await;

    // A message a round skipped while the conversation was set aside, and that its rebuild
    // did not read (committed after it read MySQL): brought by the round that finds the
    // record gone, which compares the conversation whole. Staged: a record put by hand, a
    // round known to have started after it (it brought "after the record"), the message,
    // then the record deleted without a rebuild.
    writer
        .put_quarantine(&writer::Quarantine {
            since: shared::model::now_seconds(),
            ..q.clone()
        })
        .await
        .unwrap();
    sql(
        &db,
        "INSERT INTO messages (conversation_id, sender_type, message_text) VALUES (2, 'user', 'after the record')",
    )
    .await;
    until_shown(&app, 2, "after the record").await;
    sql(
        &db,
        "INSERT INTO messages (conversation_id, sender_type, message_text) VALUES
           (1, 'user', 'skipped while set aside'), (2, 'user', 'read with it')",
    )
    .await;
    until_shown(&app, 2, "read with it").await;
    assert!(
        !texts(&app, 1)
            .await
            .contains(&"skipped while set aside".to_string())
    );
    assert!(writer.clear_quarantine(1).await.unwrap().is_some());
    until_shown(&app, 1, "skipped while set aside").await;

    stop.send(true).unwrap();
    let summary = follow.await.unwrap().unwrap();
    let output = printed.text();
    println!("{output}{summary}");
    assert_eq!(summary.quarantined, 0, "{output}");
    assert!(
        summary.to_string().contains(", 0 quarantined; checkpoint: "),
        "{summary}"
    );
    // The refusal is printed once, masked, however many rounds skipped the conversation.
    assert_eq!(output.matches("quarantined [").count(), 1, "{output}");
    assert!(
        output.contains(&format!("quarantined [{}]: {}", q.code, q.reason)),
        "{output}"
    );
    assert!(output.contains("`convo-admin sync --rebuild 1`"), "{output}");
    assert!(output.contains(", 1 quarantined"), "{output}");
    assert!(
        output.contains("conversation 1 left quarantine (its record was cleared): compared whole with MySQL"),
        "{output}"
    );
    assert!(!output.contains("573001112233"), "{output}");
    assert_matches(&table, &db).await;
    assert_eq!(message_items(&table).await, mysql_messages(&db).await);
    legacy.disconnect().await;
    assert_within_sync_policy(&table);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_phone_number_is_quarantined_and_its_rebuild_moves_the_claim() {
    let (table, db) = setup("rebuild").await;
    sql(&db, SEED).await;
    sync_once(&table, &db).await.unwrap();
    sql(
        &db,
        "UPDATE conversations SET phone_number = '573004445566' WHERE id = 3;
         INSERT INTO messages (conversation_id, sender_type, message_text) VALUES (2, 'user', 'for conversation 2')",
    )
    .await;
    // One run: conversation 2 brought, conversation 3 set aside; a second run leaves it so.
    sync_once(&table, &db).await.unwrap();
    sync_once(&table, &db).await.unwrap();
    let app = app_for(&table).await;
    assert!(texts(&app, 2).await.contains(&"for conversation 2".to_string()));
    let store = store_for(&table).await;
    let writer = writer::Writer::of(&sync_store_for(&table).await);
    let status = sync::status(&writer).await.unwrap();
    let [q] = status.quarantined.as_slice() else {
        panic!("{status}");
    };
    assert_eq!((q.conversation_id, q.code.as_str()), (3, "phone_changed"));
    assert_eq!(
        q.reason,
        "conversation 3: phone number 5730•••8877 in the table, 5730•••5566 in the source; left as it is"
    );
    assert_eq!(q.phone_number, "573004445566");
    // `--status` needs no MySQL.
    admin(&table, &["sync", "--status"]).await.unwrap();

    // MySQL lacks conversation 99: refused, nothing written.
    let legacy = legacy_db::LegacyDb::new(&db.reader_url).unwrap();
    let before = all_items(&store).await;
    let refused = format!("{:#}", sync::rebuild(&writer, &legacy, 99).await.unwrap_err());
    assert!(refused.contains("has no conversation 99"), "{refused}");
    let refused = admin(&table, &["sync", "--mysql", &db.reader_url, "--rebuild", "99"])
        .await
        .unwrap_err();
    assert!(
        format!("{refused:#}").contains("has no conversation 99"),
        "{refused:#}"
    );
    assert_eq!(all_items(&store).await, before);

    // The rebuild takes MySQL's number: its claim moves with it.
    let rebuilt = sync::rebuild(&writer, &legacy, 3).await.unwrap();
    assert_eq!(
        rebuilt.to_string(),
        format!(
            "conversation 3 rebuilt from MySQL: no messages written, no message removed, \
             conversation item replaced (0 messages -> 0), phone claim moved from 5730•••8877 to \
             5730•••5566; quarantine cleared ([phone_changed] since {})",
            q.since
        )
    );
    let owners = store
        .phone_owners(&["573009998877".to_string(), "573004445566".to_string()])
        .await
        .unwrap();
    assert_eq!(owners, [("573004445566".to_string(), 3)].into());
    assert!(writer.quarantined().await.unwrap().is_empty());
    // Again: nothing left to move, and it was not quarantined.
    admin(&table, &["sync", "--mysql", &db.reader_url, "--rebuild", "3"])
        .await
        .unwrap();
    sync_once(&table, &db).await.unwrap();
    assert!(sync::status(&writer).await.unwrap().quarantined.is_empty());
    assert_matches(&table, &db).await;
    legacy.disconnect().await;
    assert_within_sync_policy(&table);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_too_large_for_one_transaction_are_written_in_steps() {
    let (table, db) = setup("large").await;
    // 130 AI replies of 30 KB with 30 KB of RAG context (legacy TEXT columns hold 64 KB):
    // 7.8 MB, several transactions of at most 3.5 MB.
    sql(
        &db,
        "INSERT INTO conversations (id, phone_number, last_message_at) VALUES (1, '573001', '2024-01-15 10:02:10');
         INSERT INTO messages (conversation_id, sender_type, message_text, context_used, confidence_score, created_at)
           SELECT 1, 'bot', CONCAT(seq, ' ', REPEAT('respuesta ', 3000)), REPEAT('RAG ', 7500), 0.8,
                  '2024-01-15 10:00:00' + INTERVAL seq SECOND FROM seq_1_to_130;",
    )
    .await;
    sync_once(&table, &db).await.unwrap();
    assert_matches(&table, &db).await;
    // A message older than all 130: every one of them moves up a place, more than one
    // transaction holds.
    sql(
        &db,
        "INSERT INTO messages (conversation_id, sender_type, message_text, created_at)
           VALUES (1, 'user', 'the oldest, committed last', '2024-01-15 09:59:00')",
    )
    .await;
    sync_once(&table, &db).await.unwrap();
    assert_matches(&table, &db).await;
    assert_eq!(message_items(&table).await, 131);
    let page = store_for(&table).await.message_page(1, 130, 20).await.unwrap();
    assert_eq!(page.messages[0].message_text, "the oldest, committed last");
    assert_within_sync_policy(&table);
}

/// SIGTERM, as systemd stops it: the round in flight ends, the checkpoint is saved and the
/// exit is clean. Returns what the sync printed.
fn stop(child: &mut std::process::Child, log: &Path) -> String {
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    let output = std::fs::read_to_string(log).unwrap();
    assert!(status.success(), "{status}\n{output}");
    output
}

/// Polls `done` until it holds, or fails after CONVERGE with `what` and the sync's log.
async fn until(what: &str, log: &Path, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < CONVERGE,
            "{what} after {CONVERGE:?}\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `--metrics-namespace`: each round's figures reach CloudWatch (a local endpoint through
/// the SDK's endpoint override) in the stack's namespace, metric names and dimension, and
/// every round is counted once even when CloudWatch fails for a while: the sync goes on (the
/// API shows MySQL's data), says so once, and sends what it held when CloudWatch is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_every_round_once_and_a_failing_cloudwatch_does_not_stop_the_sync() {
    use convo_admin::sync::metrics::{LAG, QUARANTINED};
    use integration_tests::cloudwatch::LocalCloudWatch;

    let (table, db) = setup("metrics").await;
    sql(&db, SEED).await;
    let began = jiff::Timestamp::now().as_second() as f64;
    let cloudwatch = LocalCloudWatch::start();
    cloudwatch.fail(true);
    let log = std::env::temp_dir().join(format!("{table}.log"));
    let _ = std::fs::remove_file(&log);
    let mut child = start_sync(
        &table,
        &db,
        &log,
        &["--metrics-namespace", "Test/Sync"],
        &[("AWS_ENDPOINT_URL_CLOUDWATCH", &cloudwatch.url)],
    );
    // CloudWatch refuses: the sync brings MySQL's data all the same, and keeps trying.
    converge(&table, &db).await;
    until("no refused publish", &log, || {
        cloudwatch.calls().iter().filter(|c| c.failed).count() >= 4
    })
    .await;
    cloudwatch.fail(false);
    until("nothing published", &log, || {
        cloudwatch.calls().iter().any(|c| !c.failed)
    })
    .await;

    let output = stop(&mut child, &log);
    let said = |text: &str| output.lines().filter(|l| l.contains(text)).count();
    assert_eq!(
        said("metrics: not published to CloudWatch namespace Test/Sync"),
        1,
        "{output}"
    );
    assert_eq!(said("metrics: published to CloudWatch again"), 1, "{output}");

    let (rounds, rows) = rounds_and_rows(&output);
    assert_eq!(rows, 9.0, "{output}");
    let sent: Vec<_> = cloudwatch.calls().into_iter().filter(|c| !c.failed).collect();
    let totals = metric_totals(&sent, &table, began);
    // The first call after the failures carries the periods held meanwhile.
    assert!(
        sent[0].body["MetricData"].as_array().unwrap().len() > 3,
        "{:?}",
        sent[0]
    );
    assert_eq!(
        totals.keys().map(String::as_str).collect::<Vec<_>>(),
        [LAG, ROWS_APPLIED, QUARANTINED]
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    for (name, (count, _, _)) in &totals {
        assert_eq!(*count, rounds, "{name}: every round once\n{output}");
    }
    assert_eq!(totals[ROWS_APPLIED].1, rows, "{output}");
    assert_eq!(totals[QUARANTINED].2, 0.0);
    // The seed's messages are from 2024: the round that wrote them was that far behind.
    assert!(totals[LAG].2 > 86_400.0, "{totals:?}");
    assert_within_sync_policy(&table);
}

/// From the summary "sync: N rounds [(F failed)] in T s: M messages, C conversations
/// written, ...": the rounds that succeeded (a failed one, a hiccup of MySQL or DynamoDB,
/// publishes nothing) and the rows written.
fn rounds_and_rows(output: &str) -> (f64, f64) {
    let summary = output.lines().find(|l| l.starts_with("sync: ")).unwrap();
    let number_before = |text: &str| -> f64 {
        let head = &summary[..summary.find(text).unwrap()];
        head.rsplit([' ', '(']).next().unwrap().parse().unwrap()
    };
    let failed = if summary.contains(" failed) in ") {
        number_before(" failed)")
    } else {
        0.0
    };
    (
        number_before(" rounds") - failed,
        number_before(" messages,") + number_before(" conversations written"),
    )
}

/// Per metric, over the calls CloudWatch took: sample counts and sums added up, the
/// greatest maximum. Each call is checked on the way: the namespace, the dimension, and
/// timestamps within the run (epoch seconds, CBOR tag 1: a unit slip, or a period's start
/// long gone, would have CloudWatch drop every datum).
fn metric_totals(
    sent: &[integration_tests::cloudwatch::Call],
    table: &str,
    began: f64,
) -> BTreeMap<String, (f64, f64, f64)> {
    let mut totals: BTreeMap<String, (f64, f64, f64)> = BTreeMap::new();
    let ended = jiff::Timestamp::now().as_second() as f64;
    for call in sent {
        assert_eq!(call.operation, "PutMetricData");
        assert_eq!(call.body["Namespace"], "Test/Sync");
        for datum in call.body["MetricData"].as_array().unwrap() {
            assert_eq!(
                datum["Dimensions"],
                serde_json::json!([{ "Name": DIMENSION, "Value": table }]),
                "{datum}"
            );
            let at = datum["Timestamp"].as_f64().unwrap();
            assert!((began - 1.0..=ended + 1.0).contains(&at), "{datum}");
            let set = &datum["StatisticValues"];
            let total = totals
                .entry(datum["MetricName"].as_str().unwrap().to_string())
                .or_insert((0.0, 0.0, 0.0));
            total.0 += set["SampleCount"].as_f64().unwrap();
            total.1 += set["Sum"].as_f64().unwrap();
            total.2 = total.2.max(set["Maximum"].as_f64().unwrap());
        }
    }
    totals
}

/// `--metrics-every 1s` over 200 ms rounds: each call carries one period, the rounds
/// gathered since the last call as one statistic set per metric; fewer calls than rounds,
/// every round counted once all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_every_gathers_rounds_into_fewer_calls_counting_each_once() {
    use integration_tests::cloudwatch::LocalCloudWatch;

    let (table, db) = setup("metricsevery").await;
    sql(&db, SEED).await;
    let began = jiff::Timestamp::now().as_second() as f64;
    let cloudwatch = LocalCloudWatch::start();
    let log = std::env::temp_dir().join(format!("{table}.log"));
    let _ = std::fs::remove_file(&log);
    let mut child = start_sync(
        &table,
        &db,
        &log,
        &["--metrics-namespace", "Test/Sync", "--metrics-every", "1s"],
        &[("AWS_ENDPOINT_URL_CLOUDWATCH", &cloudwatch.url)],
    );
    converge(&table, &db).await;
    until("two calls", &log, || cloudwatch.calls().len() >= 2).await;
    let output = stop(&mut child, &log);
    let (rounds, rows) = rounds_and_rows(&output);
    assert_eq!(rows, 9.0, "{output}");
    let sent = cloudwatch.calls();
    assert!(sent.iter().all(|c| !c.failed));
    for call in &sent {
        assert_eq!(
            call.body["MetricData"].as_array().unwrap().len(),
            3,
            "one period a call"
        );
    }
    assert!(
        (sent.len() as f64) < rounds,
        "{} calls for {rounds} rounds\n{output}",
        sent.len()
    );
    let totals = metric_totals(&sent, &table, began);
    assert_eq!(totals.len(), 3, "{totals:?}");
    for (name, (count, _, _)) in &totals {
        assert_eq!(*count, rounds, "{name}: every round once\n{output}");
    }
    assert_eq!(totals[ROWS_APPLIED].1, rows);
    assert_within_sync_policy(&table);
}
