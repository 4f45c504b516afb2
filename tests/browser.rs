//! The original dashboard page, unmodified, in headless Chromium, its polling script
//! talking to this project's API, while `convo-admin sync --follow` carries what the legacy
//! application writes into MySQL over to the table: every customer message must appear in
//! the open conversation, each on its own (no later message to bring it along), including
//! one dated seconds before it was written and one whose transaction commits late. And the
//! inbox's 3 s poll must show a status change and a new conversation.
//!
//! The page's polls: `check-updates.php?last_check=<server_time>&conversation_id=<id>` every
//! 1.5 s (a new message? then it reloads the newest 20) and
//! `check-conversation-updates.php?last_check=…` every 3 s (then it reloads the inbox).
//!
//! How it is served ([`integration_tests::browser`]): the legacy repository's HEAD extracted
//! to a temporary folder, `php -S` with its router renders the page (connected to the test's
//! MariaDB database as the SELECT-only account), and one loopback gateway sends the API's
//! ten paths to the functions' handlers in-process, the rest to PHP: the same origin, as
//! docs/migration.md's "Routing the API paths" sets it up.
//!
//! Skips, with one line saying why, without chromium, php (pdo_mysql), playwright-core
//! (`make node-tools`) or the legacy repository; `BROWSER_TEST_REQUIRED=1` fails instead.

use std::time::{Duration, Instant};

use clap::Parser;
use convo_admin::cli::{Cli, run};
use convo_admin::sync::{self, legacy_db};
use integration_tests::apigw;
use integration_tests::browser::{self, Browser, Gateway, LegacyApp, PhpServer};
use integration_tests::legacy_api::app_for;
use integration_tests::mariadb::{LegacyDb, mariadb};
use integration_tests::{sdk_config, unique_table_name};
use mysql_async::prelude::Queryable;
use serde_json::{Value, json};
use shared::Store;
use shared::http::App;

/// How long a change may take to show in the page: the sync's 2 s interval plus the
/// page's poll, on a loaded 2-core machine, many times over.
const APPEAR: Duration = Duration::from_secs(60);
/// Between two writes to MySQL (at least).
const PACE: Duration = Duration::from_millis(2500);
/// The sync's settings: `sync --follow`'s defaults.
const INTERVAL: Duration = Duration::from_secs(2);
const WINDOW: Duration = Duration::from_secs(60);
const BATCH: usize = 5000;

/// The open conversation.
const OPEN: u64 = 1;

/// The legacy data before the page opens (times in the server's zone, relative to now).
const SEED: &str = "
INSERT INTO conversations (id, phone_number, contact_name, status, ai_enabled, last_message_at, created_at, updated_at) VALUES
  (1, '573001112233', 'Ana Gómez', 'active', 1, NOW() - INTERVAL 5 MINUTE, NOW() - INTERVAL 2 DAY, NOW() - INTERVAL 5 MINUTE),
  (2, '573004445566', 'Bruno Díaz', 'active', 0, NOW() - INTERVAL 30 MINUTE, NOW() - INTERVAL 3 DAY, NOW() - INTERVAL 30 MINUTE),
  (3, '5550199', NULL, 'closed', 1, NOW() - INTERVAL 2 HOUR, NOW() - INTERVAL 5 DAY, NOW() - INTERVAL 2 HOUR);
INSERT INTO messages (conversation_id, message_id, sender_type, message_text, media_type, confidence_score, created_at) VALUES
  (1, 'wamid.seed.1', 'user', 'Hola, buenas tardes', 'text', NULL, NOW() - INTERVAL 7 MINUTE),
  (1, NULL, 'bot', '¡Hola! ¿En qué te puedo ayudar?', 'text', 0.93, NOW() - INTERVAL 6 MINUTE),
  (1, 'wamid.seed.2', 'user', 'Quiero saber el precio del plan mensual', 'text', NULL, NOW() - INTERVAL 5 MINUTE),
  (2, 'wamid.seed.3', 'user', 'Necesito hablar con una persona', 'text', NULL, NOW() - INTERVAL 31 MINUTE),
  (2, NULL, 'human', 'Claro, te atiendo yo', 'text', NULL, NOW() - INTERVAL 30 MINUTE),
  (3, 'wamid.seed.4', 'user', 'Listo, gracias', 'text', NULL, NOW() - INTERVAL 2 HOUR);
";

/// How a customer message reaches MySQL.
#[derive(Debug, Clone, Copy)]
enum Write {
    /// As the webhook writes it: INSERT (created_at = now), then the conversation's
    /// last_message_at, each committed at once.
    Now,
    /// The same with created_at this many seconds back: what a slow webhook, or a clock
    /// behind, leaves. The row shows up already older than the page's last poll.
    Backdated(u32),
    /// The INSERT and the UPDATE in a transaction that commits this much later: the row's
    /// id and created_at are drawn at the INSERT, it is visible only at the COMMIT.
    LateCommit(Duration),
}

/// The customer messages written into the open conversation, in this order.
const MESSAGES: [(&str, Write); 5] = [
    ("¿Hacen envíos a Cali?", Write::Now),
    ("Necesito tres cajas medianas", Write::Now),
    ("Perdón, se me cortó la señal", Write::Backdated(8)),
    (
        "¿Puedo pagar contra entrega?",
        Write::LateCommit(Duration::from_secs(5)),
    ),
    ("Gracias, quedo atento", Write::Now),
];

async fn admin(table: &str, args: &[&str]) {
    let mut argv = vec!["convo-admin", "--table", table];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv).unwrap(), &sdk_config().await)
        .await
        .unwrap_or_else(|e| panic!("convo-admin {args:?}: {e:#}"));
}

/// A customer message as the legacy `ConversationService::addMessage` writes it, then
/// `UPDATE conversations SET last_message_at = NOW()` as the webhook does. Returns its id.
async fn add_customer_message(db: &LegacyDb, conversation: u64, text: &str, how: Write, n: usize) -> u64 {
    let mut conn = db.admin().await;
    let wamid = format!("wamid.browser.{n}");
    let insert = "INSERT INTO messages (conversation_id, message_id, sender_type, message_text, audio_url, media_type, context_used, confidence_score) \
                  VALUES (?, ?, 'user', ?, NULL, 'text', NULL, NULL)";
    let touch = "UPDATE conversations SET last_message_at = NOW() WHERE id = ?";
    match how {
        Write::Now => {
            conn.exec_drop(insert, (conversation, wamid.as_str(), text))
                .await
                .unwrap();
        }
        Write::Backdated(seconds) => {
            conn.exec_drop(
                "INSERT INTO messages (conversation_id, message_id, sender_type, message_text, audio_url, media_type, context_used, confidence_score, created_at) \
                 VALUES (?, ?, 'user', ?, NULL, 'text', NULL, NULL, NOW() - INTERVAL ? SECOND)",
                (conversation, &wamid, text, seconds),
            )
            .await
            .unwrap();
        }
        Write::LateCommit(_) => {
            conn.query_drop("START TRANSACTION").await.unwrap();
            conn.exec_drop(insert, (conversation, wamid.as_str(), text))
                .await
                .unwrap();
        }
    }
    let id = conn.last_insert_id().expect("the message's id");
    conn.exec_drop(touch, (conversation,)).await.unwrap();
    if let Write::LateCommit(after) = how {
        // The transaction stays open: the scenario, not a wait for anything.
        tokio::time::sleep(after).await;
        conn.query_drop("COMMIT").await.unwrap();
    }
    conn.disconnect().await.unwrap();
    id
}

/// The texts of a conversation's newest 20 messages in MySQL, oldest first: what the
/// legacy page showed after a reload.
async fn mysql_texts(db: &LegacyDb, conversation: u64) -> Vec<String> {
    let mut conn = db.admin().await;
    let mut texts: Vec<String> = conn
        .exec(
            "SELECT message_text FROM messages WHERE conversation_id = ? ORDER BY created_at DESC, id DESC LIMIT 20",
            (conversation,),
        )
        .await
        .unwrap();
    conn.disconnect().await.unwrap();
    texts.reverse();
    texts
}

/// What the test holds for a failure's report.
struct Scene<'a> {
    app: &'a App,
    gateway: &'a Gateway,
    db: &'a LegacyDb,
    table: &'a str,
}

impl Scene<'_> {
    /// Why `text` is not in the page: is it in MySQL, in the table (the API answers it), and
    /// what the page's polls were answered since the write (`written`) or lately.
    async fn report(
        &self,
        browser: &mut Browser,
        text: &str,
        conversation: Option<u64>,
        written: Option<Instant>,
    ) -> String {
        let mut lines = Vec::new();
        let shot = browser::output_dir().join(format!("{}-failure.png", self.table));
        if browser
            .call(json!({"op": "screenshot", "path": shot}), Duration::from_secs(30))
            .await
            .is_ok()
        {
            lines.push(format!("screenshot: {}", shot.display()));
        }
        if let Ok(v) = browser
            .call(
                json!({"op": "texts", "selector": "#messages-content .message-bubble p"}),
                Duration::from_secs(30),
            )
            .await
        {
            lines.push(format!("the open conversation shows: {}", v["value"]));
        }
        if let Ok(v) = browser
            .call(
                json!({"op": "texts", "selector": "#conversations-list .conv-item"}),
                Duration::from_secs(30),
            )
            .await
        {
            let rows: Vec<String> = v["value"]
                .as_array()
                .map(|rows| {
                    rows.iter()
                        .map(|r| {
                            r.as_str()
                                .unwrap_or_default()
                                .split_whitespace()
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .collect()
                })
                .unwrap_or_default();
            lines.push(format!("the inbox shows: {rows:?}"));
        }
        let mut conn = self.db.admin().await;
        let row: Option<(u64, u64, String)> = conn
            .exec_first(
                "SELECT id, conversation_id, DATE_FORMAT(CONVERT_TZ(created_at, @@session.time_zone, '+00:00'), '%Y-%m-%d %H:%i:%s') \
                 FROM messages WHERE message_text = ?",
                (text,),
            )
            .await
            .unwrap_or(None);
        conn.disconnect().await.unwrap();
        lines.push(match row {
            Some((id, c, at)) => format!("MySQL: message {id} of conversation {c}, created_at {at} UTC"),
            None => "MySQL: no message with this text".to_string(),
        });
        if let Some(c) = conversation {
            let reply = apigw::invoke(
                self.app,
                &apigw::event(
                    "GET",
                    &format!("/api/get-conversation-messages.php?id={c}&offset=0&limit=20"),
                ),
            )
            .await;
            let texts: Vec<&str> = reply.body["messages"]
                .as_array()
                .map(|m| m.iter().filter_map(|m| m["message_text"].as_str()).collect())
                .unwrap_or_default();
            lines.push(if texts.contains(&text) {
                "the API has it now (the sync wrote it)".to_string()
            } else {
                format!("the API does not have it yet (the sync has not written it): {texts:?}")
            });
        } else {
            let reply = apigw::invoke(self.app, &apigw::event("GET", "/api/get-conversations.php")).await;
            let rows: Vec<String> = reply.body["conversations"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|c| format!("{} {} {}", c["id"], c["status"], c["contact_name"]))
                        .collect()
                })
                .unwrap_or_default();
            lines.push(format!("the API's inbox now: {rows:?}"));
        }
        // The polls from shortly before the write on (or the latest ones), in seconds from
        // the write (or from now).
        let (origin, label) = match written {
            Some(at) => (at, "the write"),
            None => (Instant::now(), "now"),
        };
        let polls: Vec<_> = self
            .gateway
            .calls()
            .into_iter()
            .filter(|c| c.target.contains("check-"))
            .filter(|c| written.is_none_or(|at| c.at + Duration::from_secs(4) >= at))
            .collect();
        let polls = match written {
            Some(_) => &polls[..polls.len().min(24)],
            None => &polls[polls.len().saturating_sub(16)..],
        };
        lines.push(format!(
            "the page's polls as the API answered them (seconds from {label}; a poll reports changes after its last_check):"
        ));
        for call in polls {
            let offset = if call.at >= origin {
                call.at.duration_since(origin).as_secs_f64()
            } else {
                -origin.duration_since(call.at).as_secs_f64()
            };
            lines.push(format!(
                "  {offset:+7.2} {} -> {} {}",
                call.target, call.status, call.body
            ));
        }
        lines.join("\n")
    }

    /// Polls the page's DOM until `selector`'s text contains `text`; the time it took, or a
    /// failure with the report.
    async fn expect_text(
        &self,
        browser: &mut Browser,
        selector: &str,
        text: &str,
        conversation: Option<u64>,
        written: Option<Instant>,
        what: &str,
    ) -> Duration {
        let started = Instant::now();
        let cmd = json!({"op": "waitText", "selector": selector, "text": text, "timeoutMs": APPEAR.as_millis() as u64});
        match browser.call(cmd, APPEAR + Duration::from_secs(30)).await {
            Ok(_) => started.elapsed(),
            Err(e) => {
                let report = self.report(browser, text, conversation, written).await;
                panic!("{what}: {text:?} did not appear in {selector} within {APPEAR:?} ({e})\n{report}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_page_shows_every_message_sync_brings() {
    let Some(pre) = browser::prerequisites() else {
        return;
    };
    let started = Instant::now();

    // The legacy data, a table, a first sync, then `sync --follow` (its defaults).
    let table = unique_table_name("browser");
    admin(&table, &["create-table"]).await;
    let db = mariadb().database("browser").await;
    {
        let mut conn = db.admin().await;
        conn.query_drop(SEED).await.unwrap();
        conn.disconnect().await.unwrap();
    }
    let store = Store::new(shared::client::dynamodb_client(&sdk_config().await), &table);
    let legacy = legacy_db::LegacyDb::new(&db.reader_url).unwrap();
    let options = |follow| sync::Options {
        follow,
        interval: INTERVAL,
        window: WINDOW,
        batch: BATCH,
        metrics: None,
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let first = sync::run(
        &writer::Writer::of(&store),
        &legacy,
        &options(false),
        stopped.clone(),
        &mut std::io::stdout(),
    )
    .await
    .expect("the first sync");
    println!("first sync: {first}");
    let follow = {
        let (store, legacy, options) = (store.clone(), legacy.clone(), options(true));
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

    // The page, same-origin with the API.
    let app = app_for(&table).await;
    let page = LegacyApp::extract(&pre);
    let php = PhpServer::start(&pre, &page, &db);
    let gateway = Gateway::start(app.clone(), php.port, tokio::runtime::Handle::current());
    println!(
        "legacy page {} (commit {}) by php -S :{} (log {}), behind the gateway :{}",
        pre.legacy_repo.display(),
        page.commit,
        php.port,
        php.log.display(),
        gateway.port
    );
    let scene = Scene {
        app: &app,
        gateway: &gateway,
        db: &db,
        table: &table,
    };
    let mut browser = Browser::start(&pre);
    let url = format!("http://127.0.0.1:{}/conversations", gateway.port);
    let opened = browser
        .call(json!({"op": "open", "url": url}), Duration::from_secs(120))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "open {url}: {e}\nphp log:\n{}",
                std::fs::read_to_string(&php.log).unwrap_or_default()
            )
        });
    assert_eq!(opened["status"], json!(200), "the page's answer: {opened}");
    println!("opened {url}: {}", opened["title"]);

    // The inbox (get-conversations.php), then the conversation, opened by a click on its row.
    scene
        .expect_text(
            &mut browser,
            "#conversations-list",
            "Ana Gómez",
            None,
            None,
            "the inbox",
        )
        .await;
    browser
        .call(
            json!({"op": "click", "selector": format!("#conversations-list [data-conv-id=\"{OPEN}\"]")}),
            Duration::from_secs(60),
        )
        .await
        .expect("click the conversation");
    scene
        .expect_text(
            &mut browser,
            "#chat-contact-name",
            "Ana Gómez",
            Some(OPEN),
            None,
            "the chat header",
        )
        .await;
    scene
        .expect_text(
            &mut browser,
            "#messages-content",
            "Quiero saber el precio del plan mensual",
            Some(OPEN),
            None,
            "the conversation's messages",
        )
        .await;

    // Customer messages, one at a time: each must show by itself.
    let mut last_write: Option<Instant> = None;
    for (n, (text, how)) in MESSAGES.iter().enumerate() {
        if let Some(at) = last_write {
            // Pacing between writes (the test's traffic), not a wait for anything.
            tokio::time::sleep(PACE.saturating_sub(at.elapsed())).await;
        }
        let id = add_customer_message(&db, OPEN, text, *how, n).await;
        let committed = Instant::now();
        last_write = Some(committed);
        let what = format!("customer message {} ({how:?}, id {id})", n + 1);
        scene
            .expect_text(
                &mut browser,
                "#messages-content",
                text,
                Some(OPEN),
                Some(committed),
                &what,
            )
            .await;
        println!(
            "{what}: shown {:.1} s after its commit",
            committed.elapsed().as_secs_f64()
        );
    }

    // Everything MySQL has, in its order, is what the page shows.
    let want = mysql_texts(&db, OPEN).await;
    let shown = browser
        .call(
            json!({"op": "texts", "selector": "#messages-content .message-bubble p"}),
            Duration::from_secs(30),
        )
        .await
        .expect("the page's messages");
    let shown: Vec<String> = serde_json::from_value(shown["value"].clone()).unwrap();
    assert_eq!(shown, want, "the open conversation differs from MySQL's");

    // The inbox's poll: a status change (another conversation), then a new conversation.
    tokio::time::sleep(PACE.saturating_sub(last_write.map_or(PACE, |t| t.elapsed()))).await;
    {
        let mut conn = db.admin().await;
        conn.exec_drop(
            "UPDATE conversations SET status = ? WHERE id = ?",
            ("pending_human", 2),
        )
        .await
        .unwrap();
        conn.disconnect().await.unwrap();
    }
    let committed = Instant::now();
    let cmd = json!({
        "op": "waitAttr", "selector": "#conversations-list [data-conv-id=\"2\"]",
        "attr": "data-status", "value": "pending_human", "timeoutMs": APPEAR.as_millis() as u64,
    });
    if let Err(e) = browser.call(cmd, APPEAR + Duration::from_secs(30)).await {
        let report = scene
            .report(&mut browser, "Bruno Díaz", None, Some(committed))
            .await;
        panic!("conversation 2's new status did not show in the inbox within {APPEAR:?} ({e})\n{report}");
    }
    println!(
        "status change of conversation 2: shown {:.1} s after its commit",
        committed.elapsed().as_secs_f64()
    );

    tokio::time::sleep(PACE.saturating_sub(committed.elapsed())).await;
    let new_id = {
        // ConversationService::getOrCreateConversation's INSERT, then addMessage and the
        // webhook's UPDATE.
        let mut conn = db.admin().await;
        conn.exec_drop(
            "INSERT INTO conversations (phone_number, contact_name, status, ai_enabled) VALUES (?, ?, 'active', 1)",
            ("573005550123", "Carla Nueva"),
        )
        .await
        .unwrap();
        let id = conn.last_insert_id().expect("the conversation's id");
        conn.disconnect().await.unwrap();
        add_customer_message(&db, id, "Hola, vi su anuncio", Write::Now, MESSAGES.len()).await;
        id
    };
    let committed = Instant::now();
    scene
        .expect_text(
            &mut browser,
            "#conversations-list",
            "Carla Nueva",
            None,
            Some(committed),
            "a new conversation",
        )
        .await;
    println!(
        "new conversation {new_id}: shown in the inbox {:.1} s after its commit",
        committed.elapsed().as_secs_f64()
    );

    // The page's polls were answered by the API (not by the PHP host), every one 200.
    let calls = gateway.calls();
    let count = |path: &str| calls.iter().filter(|c| c.target.starts_with(path)).count();
    let polls = calls
        .iter()
        .filter(|c| c.target.starts_with("/api/check-updates.php?last_check="))
        .count();
    let inbox_polls = count("/api/check-conversation-updates.php?last_check=");
    println!(
        "API requests: {} in all; check-updates.php with last_check {polls}, check-conversation-updates.php {inbox_polls}, \
         get-conversation-messages.php {}, get-conversations.php {}",
        calls.len(),
        count("/api/get-conversation-messages.php"),
        count("/api/get-conversations.php"),
    );
    assert!(
        polls > 0 && inbox_polls > 0,
        "the page's polls did not reach the API"
    );
    let failed: Vec<(&String, u16, &String)> = calls
        .iter()
        .filter(|c| c.status != 200)
        .map(|c| (&c.target, c.status, &c.body))
        .collect();
    assert!(failed.is_empty(), "API requests that failed: {failed:?}");
    let has_update = |c: &&browser::ApiCall| {
        serde_json::from_str::<Value>(&c.body).is_ok_and(|b| b["has_update"] == json!(true))
    };
    println!(
        "check-updates.php answered has_update=true {} times",
        calls.iter().filter(has_update).count()
    );

    // Done: the browser closes, the sync finishes its round and saves its checkpoint.
    browser.close().await;
    stop.send(true).unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(60), follow)
        .await
        .expect("sync --follow stops within 60 s")
        .unwrap()
        .expect("sync --follow");
    println!("sync --follow: {summary}");
    legacy.disconnect().await;
    drop(php);
    println!("browser test done in {:.1} s", started.elapsed().as_secs_f64());
}
