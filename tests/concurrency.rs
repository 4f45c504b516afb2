//! Concurrency against a real DynamoDB API (DynamoDB Local): 16 writers appending to one shared
//! conversation and to conversations of their own lose nothing and keep every order,
//! count and summary exact; an import running while the API serves never shows a
//! conversation whose messages are not all there.

use integration_tests::live_writes::{LOST_RACES, LiveWrites};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use writer::Writer;

use clap::Parser;
use integration_tests::apigw::{event, invoke};
use integration_tests::faults::{Fault, FaultyEndpoint};
use integration_tests::live_writes::{NewConversation, NewMessage};
use integration_tests::{dynamodb, fresh_store, sdk_config, unique_table_name, workspace_root};
use serde_json::{Value, json};
use shared::config::Config;
use shared::http::App;
use shared::model::{Message, SenderType, Status};
use shared::{Store, client};

const WRITERS: usize = 16;
const APPENDS_PER_WRITER: usize = 24;

/// Every message of a conversation, oldest first, read page by page as the API reads.
async fn all_messages(store: &Store, id: u64) -> Vec<Message> {
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let page = store.message_page(id, offset, 20).await.unwrap();
        let mut older = page.messages;
        older.extend(all);
        all = older;
        offset += 20;
        if !page.has_more {
            break;
        }
    }
    all
}

/// Every this-many-th transaction is answered with DynamoDB's `TransactionConflict`
/// cancellation (DynamoDB Local runs transactions one at a time and never conflicts).
const CONFLICT_EVERY: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_writers_to_shared_and_own_conversations_lose_nothing() {
    let direct = fresh_store().await;
    let transactions = Arc::new(AtomicUsize::new(0));
    let conflicting = FaultyEndpoint::start_per_operation(&dynamodb().endpoint, {
        let transactions = Arc::clone(&transactions);
        move |_, operation, _| {
            let is_conflict = operation == "TransactWriteItems"
                && transactions.fetch_add(1, Ordering::SeqCst) % CONFLICT_EVERY == CONFLICT_EVERY - 1;
            if is_conflict {
                Fault::TransactionConflict
            } else {
                Fault::Pass
            }
        }
    });
    let store = Store::new(
        client::dynamodb_client(&integration_tests::sdk_config_for(&conflicting.url).await),
        direct.table_name(),
    );
    let writer = Writer::of(&store);
    let shared_c = writer
        .create_conversation(NewConversation::active("573000000001"))
        .await
        .unwrap();
    let mut own = Vec::new();
    for w in 0..WRITERS {
        let c = writer
            .create_conversation(NewConversation::active(format!("57310000{w:04}")))
            .await
            .unwrap();
        own.push(c.id);
    }
    // Every writer alternates: even appends to the shared conversation, odd ones to its
    // own, so same-conversation conflicts and independent writes run at once.
    let mut tasks = tokio::task::JoinSet::new();
    for (w, own_id) in own.iter().copied().enumerate() {
        let writer = writer.clone();
        let shared_id = shared_c.id;
        tasks.spawn(async move {
            for k in 0..APPENDS_PER_WRITER {
                let target = if k % 2 == 0 { shared_id } else { own_id };
                // Status changes between the appends, on both conversations: the tally's
                // status counts move while its message count grows.
                if k % 5 == 4 {
                    let status = Status::ALL[(w + k) % Status::ALL.len()];
                    writer
                        .set_status(target, status)
                        .await
                        .unwrap_or_else(|e| panic!("writer {w}, status {k}: {e}"));
                }
                writer
                    .append_message(
                        target,
                        // Answers among the customers' messages: the waiting state moves.
                        NewMessage::text(
                            if (w + k) % 3 == 2 {
                                SenderType::Ai
                            } else {
                                SenderType::Customer
                            },
                            format!("w{w}-{k}"),
                        ),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("writer {w}, append {k}: {e}"));
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }

    let per_conversation = APPENDS_PER_WRITER / 2;
    let mut expected_counts = BTreeMap::new();
    expected_counts.insert(shared_c.id, WRITERS * per_conversation);
    for id in &own {
        expected_counts.insert(*id, per_conversation);
    }
    let mut ids = HashSet::new();
    for (&id, &count) in &expected_counts {
        let conversation = store.get_conversation(id).await.unwrap().unwrap();
        let all = all_messages(&store, id).await;
        assert_eq!(conversation.message_count as usize, count, "conversation {id}");
        assert_eq!(all.len(), count, "conversation {id}");
        assert_eq!(
            all.iter().map(|m| m.position).collect::<Vec<_>>(),
            (0..count as u64).collect::<Vec<_>>()
        );
        assert!(
            all.windows(2)
                .all(|w| w[0].chronological_key() < w[1].chronological_key())
        );
        let last = conversation.last_message.unwrap();
        let newest = all.last().unwrap();
        assert_eq!((last.id, &last.text), (newest.id, &newest.message_text));
        assert_eq!(conversation.last_message_at, newest.created_at);
        assert_eq!(
            conversation.waiting,
            shared::model::Waiting::of(&all),
            "conversation {id}"
        );
        // Each writer's messages keep the order it sent them in.
        for w in 0..WRITERS {
            let mine: Vec<usize> = all
                .iter()
                .filter_map(|m| m.message_text.strip_prefix(&format!("w{w}-")))
                .map(|k| k.parse().unwrap())
                .collect();
            assert!(
                mine.windows(2).all(|p| p[0] < p[1]),
                "writer {w} in {id}: {mine:?}"
            );
        }
        ids.extend(all.iter().map(|m| m.id));
    }
    assert_eq!(ids.len(), WRITERS * APPENDS_PER_WRITER, "message ids are unique");
    // Both retry paths of an append ran: transactions cancelled by a conflicting one
    // (injected; retried with back-off), and appends that lost their position to another
    // writer (DynamoDB Local's own answers; retried at once).
    let (conflicts, lost_races) = (writer.transaction_conflicts(), LOST_RACES.load(Ordering::Relaxed));
    println!("transaction conflicts: {conflicts}, lost races: {lost_races}");
    assert!(conflicts > 0, "no transaction conflict");
    assert!(lost_races > 0, "no lost race");
    // The tally is what the items hold: each conversation once under its status, every
    // message once.
    let mut expected = shared::model::Tally::default();
    for id in expected_counts.keys() {
        let c = store.get_conversation(*id).await.unwrap().unwrap();
        *expected.of(c.status) += 1;
        expected.messages += c.message_count as i64;
    }
    let (tally, cost) = store.tally().await.unwrap();
    assert_eq!(tally, expected);
    assert_eq!(tally.total(), (WRITERS + 1) as i64);
    assert!(cost.items_read <= shared::table::TALLY_SHARDS, "{cost:?}");
    assert_eq!(cost.round_trips, 1);
    // The daily statistics: every conversation's share is what its messages make, and the
    // hour items their sum (the appends are all of today).
    assert_eq!(integration_tests::check_stats(&store).await, 0);
    // The inbox lists every conversation once, newest activity first.
    let listed = integration_tests::inbox_ids(&store, None, 100).await;
    assert_eq!(listed.len(), WRITERS + 1);
    let mut by_activity = Vec::new();
    for id in &listed {
        let c = store.get_conversation(*id).await.unwrap().unwrap();
        by_activity.push((c.last_message_at, c.id));
    }
    assert!(by_activity.windows(2).all(|w| w[0] >= w[1]), "{by_activity:?}");
    // The needs-reply queue holds exactly the waiting ones, longest waiting first.
    let mut waiting = Vec::new();
    for id in expected_counts.keys() {
        let c = store.get_conversation(*id).await.unwrap().unwrap();
        if let Some(since) = c.waiting.since() {
            waiting.push((since, c.id));
        }
    }
    waiting.sort();
    let queue = integration_tests::queue_of(&store, 100).await;
    assert_eq!(queue, waiting);
}

const IMPORT_CONVERSATIONS: usize = 150;
const IMPORT_MESSAGES_EACH: usize = 20;

/// JSON Lines files of a legacy export, under target/.
fn legacy_export() -> (String, String) {
    let dir = workspace_root().join("target/tmp");
    std::fs::create_dir_all(&dir).unwrap();
    let tag = unique_table_name("export");
    let conversations = dir.join(format!("{tag}-conversations.jsonl"));
    let messages = dir.join(format!("{tag}-messages.jsonl"));
    let mut c = std::io::BufWriter::new(std::fs::File::create(&conversations).unwrap());
    let mut m = std::io::BufWriter::new(std::fs::File::create(&messages).unwrap());
    let mut message_id = 0;
    for i in 1..=IMPORT_CONVERSATIONS {
        let at = format!("2024-01-{:02} {:02}:{:02}:00", 1 + i % 28, i % 24, i % 60);
        let row = json!({"id": i, "phone_number": format!("57320{i:05}"), "contact_name": format!("Contact {i}"),
            "status": (["active", "pending_human", "closed"][i % 3]), "ai_enabled": i % 2,
            "last_message_at": at, "created_at": "2023-12-01 00:00:00"});
        writeln!(c, "{row}").unwrap();
        for k in 0..IMPORT_MESSAGES_EACH {
            message_id += 1;
            let row = json!({"id": message_id, "conversation_id": i, "sender_type": (["user", "bot"][k % 2]),
                "message_text": format!("c{i} m{k}"), "media_type": "text",
                "created_at": format!("2023-12-{:02} 10:00:00", 1 + k)});
            writeln!(m, "{row}").unwrap();
        }
    }
    c.flush().unwrap();
    m.flush().unwrap();
    (
        conversations.display().to_string(),
        messages.display().to_string(),
    )
}

/// What one look at the API saw: conversations listed, and any inconsistency.
async fn observe(app: &App) -> Result<usize, String> {
    let list = invoke(app, &event("GET", "/api/conversations?limit=1000")).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let listed = list.body["conversations"].as_array().unwrap().clone();
    for c in &listed {
        let id = c["id"].as_u64().unwrap();
        let page = invoke(
            app,
            &event("GET", &format!("/api/conversations/{id}/messages?limit=20")),
        )
        .await;
        if page.status != 200 {
            return Err(format!(
                "conversation {id} is listed but its messages answer {}",
                page.status
            ));
        }
        let messages = page.body["messages"].as_array().unwrap();
        let newest: Option<&Value> = messages.last();
        if page.body["total"] != json!(IMPORT_MESSAGES_EACH) || messages.len() != IMPORT_MESSAGES_EACH {
            return Err(format!(
                "conversation {id} listed with {} of its messages",
                messages.len()
            ));
        }
        if newest.map(|m| &m["message_text"]) != Some(&c["last_message"]) {
            return Err(format!(
                "conversation {id}: summary {} is not its newest message",
                c["last_message"]
            ));
        }
    }
    Ok(listed.len())
}

/// Holds every write of conversation items but the first batch until released, so a test
/// can look at the API while an import is certainly half-way.
#[derive(Default)]
struct Gate {
    state: Mutex<(bool, usize)>,
    opened: Condvar,
}

impl Gate {
    /// Called for each request to DynamoDB: waits while closed, once a conversation batch
    /// has gone through.
    fn pass(&self, operation: &str, body: &[u8]) {
        let conversations = operation == "BatchWriteItem"
            && String::from_utf8_lossy(body).contains(&format!("\"{}\"", shared::table::META_SK));
        if !conversations {
            return;
        }
        let mut state = self.state.lock().unwrap();
        state.1 += 1;
        if state.1 == 1 {
            return;
        }
        while !state.0 {
            state = self.opened.wait(state).unwrap();
        }
    }

    fn open(&self) {
        self.state.lock().unwrap().0 = true;
        self.opened.notify_all();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_import_running_while_the_api_serves_shows_only_complete_conversations() {
    let table = unique_table_name("live-import");
    let sdk = sdk_config().await;
    let admin = |args: Vec<String>| {
        let mut argv = vec!["convo-admin".to_string(), "--table".into(), table.clone()];
        argv.extend(args);
        convo_admin::cli::Cli::try_parse_from(argv).unwrap()
    };
    convo_admin::cli::run(admin(vec!["create-table".into()]), &sdk)
        .await
        .unwrap();
    let config = Config::from_lookup(|k| (k == "TABLE_NAME").then(|| table.clone())).unwrap();
    let app = App {
        store: Store::new(client::dynamodb_client(&sdk), &config.table_name),
        config,
    };

    // The import writes through a gate that stops it after its first batch of
    // conversation items (every message is written by then).
    let gate = Arc::new(Gate::default());
    let gated = FaultyEndpoint::start_per_operation(&dynamodb().endpoint, {
        let gate = Arc::clone(&gate);
        move |_, operation, body| {
            gate.pass(operation, body);
            Fault::Pass
        }
    });
    let (conversations, messages) = legacy_export();
    let import = tokio::spawn({
        let sdk = integration_tests::sdk_config_for(&gated.url).await;
        let cli = admin(vec![
            "import".into(),
            "--conversations".into(),
            conversations,
            "--messages".into(),
            messages,
        ]);
        async move { convo_admin::cli::run(cli, &sdk).await }
    });
    // Until the first conversations appear, then while the gate holds the rest: every
    // view is consistent, and at least one is of the import half-way.
    let mut views = 0;
    let mut partial_views = 0;
    loop {
        let seen = observe(&app)
            .await
            .unwrap_or_else(|e| panic!("during the import: {e}"));
        views += 1;
        assert!(!import.is_finished(), "the gate holds the import");
        assert!(seen < IMPORT_CONVERSATIONS, "the gate holds most conversations");
        if seen > 0 {
            partial_views += 1;
            break;
        }
    }
    gate.open();
    while !import.is_finished() {
        let seen = observe(&app)
            .await
            .unwrap_or_else(|e| panic!("during the import: {e}"));
        views += 1;
        if seen > 0 && seen < IMPORT_CONVERSATIONS {
            partial_views += 1;
        }
    }
    import.await.unwrap().unwrap();
    assert_eq!(observe(&app).await.unwrap(), IMPORT_CONVERSATIONS);
    assert!(partial_views >= 1);
    println!("{views} views of the API during the import, {partial_views} of them mid-way");
}
