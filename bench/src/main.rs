//! `make bench`: what every request costs, measured, and the budgets it must hold.
//!
//! - DynamoDB items read and round trips per request, from DynamoDB's own answers, over a
//!   10,000-message conversation and 5,000 conversations, and over pages of production's
//!   largest items (DynamoDB Local);
//! - the functions as Lambda bills them (`functions.rs`): init (process start → first
//!   `/invocation/next` on a local Runtime API) and cold request against a hello function
//!   on the same runtime crates, CPU per warm invocation (event handed over → response,
//!   minus DynamoDB's share measured at a relay in front of it), peak memory after 500
//!   invocations, bootstrap and zip sizes; a minimal Node.js and Python function's init;
//! - the memory size modelled from those (`model.rs`): duration and cost at 128–1,024 MB;
//! - `convo-admin import` throughput for 100,000 messages;
//! - `convo-admin import --mysqldump` for a generated dump of 1,000,000 messages: parse
//!   rate alone (a dry run: read, map, validate), end-to-end rows/s into DynamoDB Local,
//!   peak RSS;
//! - `convo-admin sync` (`sync.rs`) against a private MariaDB server: a first run's rows/s,
//!   and `--follow`'s lag from commit in MySQL to visible in the API at 20 messages/s.
//!
//! Writes `bench/results.md`; exits non-zero, loudly, when a budget is broken.

mod functions;
mod instructions;
mod model;
mod sync;

use integration_tests::live_writes::LiveWrites;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use integration_tests::fixtures::{at, conversation};
use integration_tests::{apigw, dynamodb, sdk_config, workspace_root};
use jiff::Timestamp;
use shared::cursor::BeforeCursor;
use shared::model::{MediaType, Message, SenderType, Status};
use shared::store::{ListQuery, ReadCost};
use shared::{Store, client};
use writer::Record;

const MESSAGES_IN_BIG_CONVERSATION: u64 = 10_000;
const CONVERSATIONS: u64 = 5_000;
const IMPORT_MESSAGES: u64 = 100_000;

/// One measured figure and, when it has one, its budget.
struct Figure {
    section: &'static str,
    what: String,
    value: String,
    budget: Option<(String, bool)>,
}

#[derive(Default)]
struct Results {
    figures: Vec<Figure>,
}

impl Results {
    fn add(&mut self, section: &'static str, what: impl Into<String>, value: impl Into<String>) {
        self.figures.push(Figure {
            section,
            what: what.into(),
            value: value.into(),
            budget: None,
        });
    }

    fn check(
        &mut self,
        section: &'static str,
        what: impl Into<String>,
        value: impl Into<String>,
        budget: impl Into<String>,
        ok: bool,
    ) {
        self.figures.push(Figure {
            section,
            what: what.into(),
            value: value.into(),
            budget: Some((budget.into(), ok)),
        });
    }

    fn broken(&self) -> Vec<&Figure> {
        self.figures
            .iter()
            .filter(|f| matches!(f.budget, Some((_, false))))
            .collect()
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A message of realistic size (~200 bytes of text; AI answers with context).
fn message(id: u64, conversation_id: u64, position: u64) -> Message {
    let ai = id.is_multiple_of(2);
    Message {
        id,
        conversation_id,
        position,
        sender_type: if ai { SenderType::Ai } else { SenderType::Customer },
        message_text: format!(
            "Mensaje {id}: hola, quisiera saber el estado de mi pedido y la fecha de entrega estimada, gracias."
        ),
        audio_url: None,
        media_type: MediaType::Text,
        context_used: ai.then(|| "Shipping policy: standard delivery 2-3 business days".to_string()),
        confidence_score: ai.then_some(0.87),
        created_at: at(position as i64),
        whatsapp_id: Some(format!("wamid.{id}")),
    }
}

/// Conversation 1 with `messages` messages, and conversations 2 ..= `conversations`.
async fn load_bench_data(store: &Store, messages: u64, conversations: u64) {
    let mut records: Vec<Record> = (0..messages)
        .map(|p| Record::Message(message(p + 1, 1, p)))
        .collect();
    let mut big = conversation(1, Status::Active, messages as i64);
    big.message_count = messages;
    big.last_message = Some(message(messages, 1, messages - 1).summary());
    records.push(Record::Conversation(big));
    for id in 2..=conversations {
        let mut c = conversation(id, Status::ALL[(id % 3) as usize], (id * 7 % 3_000) as i64);
        c.message_count = 1;
        let mut newest = message(1_000_000 + id, id, 0);
        newest.created_at = c.last_message_at;
        // A quarter of them wait for an answer, of every status: the needs-reply queue.
        newest.sender_type = if id % 4 == 0 {
            shared::model::SenderType::Customer
        } else {
            shared::model::SenderType::Ai
        };
        c.last_message = Some(newest.summary());
        c.waiting = shared::model::Waiting::of(std::slice::from_ref(&newest));
        records.push(Record::Conversation(c));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in records.chunks(500) {
        let store = store.clone();
        let chunk = chunk.to_vec();
        tasks.spawn(async move {
            writer::Writer::of(&store)
                .put_records(&chunk)
                .await
                .expect("load bench data")
        });
        if tasks.len() >= 8 {
            tasks.join_next().await;
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// One request's cost as DynamoDB Local answered it (`ScannedCount`, items returned,
/// `ConsumedCapacity`, which it computes from the items' sizes as DynamoDB does), against
/// its budget: items read, round trips of latency and, where given, read units.
fn cost_row(
    r: &mut Results,
    what: String,
    cost: ReadCost,
    items_budget: u32,
    trips_budget: u32,
    rcu_budget: Option<f64>,
) {
    let requests = if cost.round_trips == cost.sequential_trips {
        String::new()
    } else {
        format!(" ({} requests sent together)", cost.round_trips)
    };
    r.check(
        "DynamoDB per request",
        what,
        format!(
            "{} items, {} round trip(s){requests}, {:.1} RCU",
            cost.items_read, cost.sequential_trips, cost.capacity_units
        ),
        match rcu_budget {
            Some(rcu) => format!("≤ {items_budget} items, ≤ {trips_budget} round trip(s), ≤ {rcu} RCU"),
            None => format!("≤ {items_budget} items, ≤ {trips_budget} round trip(s)"),
        },
        cost.items_read <= items_budget
            && cost.sequential_trips <= trips_budget
            && rcu_budget.is_none_or(|b| cost.capacity_units <= b),
    );
}

async fn dynamodb_costs(r: &mut Results, store: &Store) {
    let limit = 20u32;
    let mut first_page_cursor = None;
    for offset in [0u64, 20, 5_000, 9_980] {
        let page = store.message_page(1, offset, limit).await.expect("message page");
        assert_eq!(page.messages.len(), limit as usize);
        if offset == 0 {
            first_page_cursor = page.before;
        }
        let trips = if offset == 0 { 1 } else { 2 };
        cost_row(
            r,
            format!("messages, offset {offset}, limit 20 (10,000 messages)"),
            page.cost,
            limit + 1,
            trips,
            None,
        );
    }
    let mut cursor: BeforeCursor = first_page_cursor.expect("a before cursor");
    for n in 1..=2 {
        let page = store
            .messages_before(1, cursor, limit)
            .await
            .expect("before page");
        // A GetItem and a Query sent together: one round trip, a query's read units.
        cost_row(
            r,
            format!("messages, before page {n}, limit 20"),
            page.cost,
            limit + 1,
            1,
            Some(2.0),
        );
        cursor = page.before.expect("older messages");
    }
    for status in [
        None,
        Some(Status::Active),
        Some(Status::PendingHuman),
        Some(Status::Closed),
    ] {
        let name = status.map_or("all", Status::as_str);
        for limit in [20u32, 100] {
            let first = store
                .list_conversations(ListQuery {
                    waiting: false,
                    status,
                    limit,
                    after: None,
                })
                .await
                .expect("list");
            cost_row(
                r,
                format!("conversations ({name}), limit {limit}, first page"),
                first.cost,
                limit + 1,
                1,
                None,
            );
            // A page deep into the list, reached by cursors.
            let mut after = first.next;
            let mut page = first;
            for _ in 0..5 {
                page = store
                    .list_conversations(ListQuery {
                        waiting: false,
                        status,
                        limit,
                        after,
                    })
                    .await
                    .expect("list");
                after = page.next;
            }
            cost_row(
                r,
                format!("conversations ({name}), limit {limit}, 6th page"),
                page.cost,
                limit + 1,
                1,
                None,
            );
        }
    }
}

/// `?phone=`: the number's claim, then its conversation, whatever the table's size; an
/// unknown number stops at the claim.
async fn phone_lookup_costs(r: &mut Results, store: &Store) {
    for (what, phone, found) in [
        (
            "known number (the 10,000-message conversation)",
            integration_tests::fixtures::phone(1),
            true,
        ),
        ("known number", integration_tests::fixtures::phone(4_321), true),
        ("unknown number", "19995550100".to_string(), false),
    ] {
        let (entry, cost) = store.conversation_by_phone(&phone).await.expect("phone lookup");
        assert_eq!(entry.is_some(), found, "{what}");
        cost_row(r, format!("conversation by phone, {what}"), cost, 2, 2, None);
    }
}

/// `?waiting=customer`: the needs-reply queue, from its sparse indexes; a page reads what
/// it returns plus one, whatever the number of conversations that do not wait.
async fn queue_costs(r: &mut Results, store: &Store) {
    for status in [None, Some(Status::Active), Some(Status::Closed)] {
        let name = status.map_or("all", Status::as_str);
        let mut after = None;
        for n in 1..=6 {
            let page = store
                .list_conversations(ListQuery {
                    waiting: true,
                    status,
                    limit: 20,
                    after,
                })
                .await
                .expect("queue");
            assert_eq!(page.conversations.len(), 20, "a full queue page ({name})");
            if n == 1 || n == 6 {
                cost_row(
                    r,
                    format!("needs-reply queue ({name}), limit 20, page {n}"),
                    page.cost,
                    21,
                    1,
                    None,
                );
            }
            after = page.next;
        }
    }
}

/// `/api/conversations/counts`: the tally's shards, whatever the table's size; the counts
/// are the loaded data's.
async fn counts_costs(r: &mut Results, store: &Store) {
    let (tally, cost) = store.tally().await.expect("counts");
    assert_eq!(tally.total(), CONVERSATIONS as i64, "every conversation counted");
    cost_row(
        r,
        format!("counts ({CONVERSATIONS} conversations)"),
        cost,
        shared::table::TALLY_SHARDS,
        1,
        Some(0.5),
    );
}

/// `/api/stats`: the tally's shards and the hour items of the zone's last 7 days, whatever
/// the number of conversations and messages. A week of activity first: conversations with
/// a message in every quarter hour of the last 8 days (written by the import's path, in
/// parts where a share has more hours than a transaction holds).
async fn stats_costs(r: &mut Results, store: &Store) {
    use jiff::SignedDuration;
    let now = Timestamp::now();
    let writer = writer::Writer::of(store);
    let quarters = 8 * 24 * 4;
    for (k, offset) in [0, 7].into_iter().enumerate() {
        let id = 900_000 + k as u64;
        let messages: Vec<Message> = (0..quarters)
            .map(|q| Message {
                id: 9_000_000 + k as u64 * 10_000 + q,
                conversation_id: id,
                position: q,
                created_at: now - SignedDuration::from_mins(15 * (quarters - 1 - q) as i64 + offset),
                ..message(9_000_000 + k as u64 * 10_000 + q, id, q)
            })
            .collect();
        let mut c = conversation(id, Status::Active, 0);
        c.phone_number = format!("57999{id:07}");
        c.message_count = quarters;
        c.last_message = messages.last().map(Message::summary);
        c.stats = Some(shared::stats::StatsShare::of(
            messages.iter().map(|m| m.created_at),
            now,
        ));
        let records: Vec<Record> = messages
            .into_iter()
            .map(Record::Message)
            .chain([Record::Conversation(c)])
            .collect();
        writer.put_records(&records).await.expect("a week of activity");
    }
    for zone in ["UTC", "Asia/Kathmandu"] {
        let tz = jiff::tz::TimeZone::get(zone).expect("a zone");
        let starts = shared::stats::day_starts(Timestamp::now(), &tz);
        let ((tally, hours), cost) = store
            .stats(starts[0].div_euclid(3600) * 3600)
            .await
            .expect("stats");
        let daily = shared::stats::daily(&hours, &starts);
        // The six days before today are whole: 96 quarters of each conversation each.
        assert!(
            tally.total() > 0 && daily.messages[..6].iter().all(|n| *n == 2 * 96),
            "{daily:?}"
        );
        cost_row(
            r,
            format!("statistics ({zone}: 7 days of hour items, every quarter hour active)"),
            cost,
            7 * 24 + 2 + shared::table::TALLY_SHARDS,
            1,
            Some(3.0),
        );
    }
}

/// The dashboard's polls over the 5,000-conversation table: one conversation, and the
/// inbox-wide polls for a `T` that a few conversations changed after and for one long ago
/// (bounded to `POLL_LIMIT`). Budget: 1 item for one conversation, returned + 1 for the
/// inbox, one round trip, whatever the size of the table.
async fn poll_costs(r: &mut Results, store: &Store) {
    let (_, cost) = store.has_message_after(1, at(0)).await.expect("poll");
    cost_row(
        r,
        "poll: check-updates.php, one conversation".into(),
        cost,
        1,
        1,
        None,
    );
    // A page's T past every stamp of the load by more than the polls' margin, and
    // RECENT_CHANGES conversations changed after it (the wait is the scenario's: stamps
    // are the writers' clocks).
    let margin = shared::store::INDEX_POLL_MARGIN;
    let recent = Timestamp::from_second((Timestamp::now() + margin).as_second() + 1).expect("a time");
    let from = recent - margin + jiff::SignedDuration::from_millis(10);
    tokio::time::sleep(Duration::try_from(from.duration_since(Timestamp::now())).unwrap_or_default()).await;
    for id in 1..=RECENT_CHANGES {
        store
            .set_status(id, Status::Closed)
            .await
            .expect("a status change");
    }
    let bound = shared::http::POLL_LIMIT;
    for (what, t) in [("recent T", recent), ("T long ago", at(-1_000_000))] {
        let changes = store.conversations_changed_after(t, bound).await.expect("poll");
        let n = changes.conversations.len() as u32;
        if what == "recent T" {
            assert_eq!(n, RECENT_CHANGES as u32, "the conversations changed after T");
        }
        // Both inbox-wide polls (check-conversation-updates.php, check-updates.php without
        // a conversation) are this one query.
        cost_row(
            r,
            format!(
                "poll: check-conversation-updates.php and check-updates.php inbox-wide, {what} ({n} conversations of 5,000)"
            ),
            changes.cost,
            n + 1,
            1,
            None,
        );
    }
}

/// How many conversations change after the polls' recent T.
const RECENT_CHANGES: u64 = 19;

/// Pages of production's largest items (`fixtures::large`): an inbox of 41 conversations
/// carrying 40–60 KB newest messages (1.7 MB), pages of 20 messages of 60 KB (1.2 MB).
/// DynamoDB answers at most 1 MB per Query, so these take one round trip per started MB.
async fn large_item_costs(r: &mut Results, store: &Store) {
    use integration_tests::fixtures::large::{self, LARGE_CONVERSATION, LARGE_INBOX};
    const MB: usize = 1024 * 1024;
    let conversations = large::conversations();
    let inbox_bytes: usize = conversations
        .iter()
        .map(|c| {
            shared::item::size(&shared::item::conversation_to_item(
                c,
                jiff::Timestamp::UNIX_EPOCH,
            ))
        })
        .sum();
    let page = store
        .list_conversations(ListQuery {
            waiting: false,
            status: None,
            limit: 100,
            after: None,
        })
        .await
        .expect("list");
    let entries: Vec<shared::InboxEntry> = conversations.iter().map(Into::into).collect();
    assert_eq!(page.conversations, entries, "the whole large inbox");
    cost_row(
        r,
        format!(
            "large items: conversations (all), limit 100: {} conversations, {:.2} MB",
            LARGE_INBOX + 1,
            inbox_bytes as f64 / MB as f64
        ),
        page.cost,
        LARGE_INBOX as u32 + 2,
        inbox_bytes.div_ceil(MB) as u32,
        None,
    );
    let messages = large::messages();
    let bytes = |m: &[shared::Message]| -> usize {
        m.iter()
            .map(|m| shared::item::size(&shared::item::message_to_item(m)))
            .sum()
    };
    for offset in [0u64, 20] {
        let page = store
            .message_page(LARGE_CONVERSATION, offset, 20)
            .await
            .expect("message page");
        assert_eq!(page.messages.len(), 20, "a whole page");
        let page_bytes = bytes(&page.messages);
        let gets = u32::from(offset > 0);
        cost_row(
            r,
            format!(
                "large items: messages, offset {offset}, limit 20 ({:.2} MB)",
                page_bytes as f64 / MB as f64
            ),
            page.cost,
            21,
            gets + (page_bytes + 64 * 1024).div_ceil(MB) as u32,
            None,
        );
        if offset == 0 {
            let before = store
                .messages_before(LARGE_CONVERSATION, page.before.expect("a cursor"), 20)
                .await
                .expect("before page");
            assert_eq!(before.messages, messages[20..40], "a whole before page");
            cost_row(
                r,
                format!(
                    "large items: messages, before page, limit 20 ({:.2} MB)",
                    bytes(&before.messages) as f64 / MB as f64
                ),
                before.cost,
                21,
                bytes(&before.messages).div_ceil(MB) as u32,
                None,
            );
        }
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|_| panic!("{} missing: run `make bench`", path.display()))
        .len()
}

fn sizes(r: &mut Results) {
    for function in functions::FUNCTIONS {
        let dir = functions::lambda_dir(function);
        let binary = file_size(&dir.join("bootstrap"));
        let zip = file_size(&dir.join("bootstrap.zip"));
        r.add(
            "Size (x86_64, release)",
            format!("{function}: bootstrap"),
            format!("{:.2} MB", binary as f64 / 1e6),
        );
        r.check(
            "Size (x86_64, release)",
            format!("{function}: bootstrap.zip"),
            format!("{:.2} MB", zip as f64 / 1e6),
            "≤ 3 MB",
            zip <= 3_000_000,
        );
        // Each library the loader maps costs every cold start its own page faults and
        // relocations; libm.so.6 cost 16 faults and ~0.08 ms (shared/src/http/pow.rs).
        match needed_libraries(&dir.join("bootstrap")) {
            Some(needed) => r.check(
                "Size (x86_64, release)",
                format!("{function}: shared libraries the loader maps (readelf -d)"),
                needed.join(", "),
                "no libm.so.6",
                !needed.iter().any(|l| l.starts_with("libm.so")),
            ),
            None => r.add(
                "Size (x86_64, release)",
                format!("{function}: shared libraries the loader maps"),
                "unknown (readelf missing: apt-get install binutils)",
            ),
        }
    }
}

/// The `NEEDED` entries of an ELF binary's dynamic section, as `readelf -d` lists them.
fn needed_libraries(binary: &Path) -> Option<Vec<String>> {
    let out = Command::new("readelf").arg("-d").arg(binary).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let needed = text
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split('[').nth(1)?.trim_end_matches(']').to_string()))
        .collect();
    out.status.success().then_some(needed)
}

/// JSON Lines exports of the legacy tables: `messages` messages over `messages / 100`
/// conversations. Returns the two paths and the number of conversations.
fn write_jsonl(dir: &Path, messages: u64) -> (PathBuf, PathBuf, u64) {
    use std::io::Write;
    let conversations_path = dir.join(format!("conversations-{messages}.jsonl"));
    let messages_path = dir.join(format!("messages-{messages}.jsonl"));
    let conversations = messages / 100;
    let mut c = std::io::BufWriter::new(std::fs::File::create(&conversations_path).unwrap());
    for id in 1..=conversations {
        writeln!(
            c,
            "{{\"id\":{id},\"phone_number\":\"58{id:09}\",\"contact_name\":\"C {id}\",\"status\":\"{}\",\"ai_enabled\":1,\"last_message_at\":\"2024-01-15 10:00:00\",\"created_at\":\"2024-01-01 00:00:00\"}}",
            Status::ALL[(id % 3) as usize].as_str()
        )
        .unwrap();
    }
    c.into_inner().unwrap().sync_all().unwrap();
    let mut m = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&messages_path).unwrap());
    for id in 1..=messages {
        writeln!(
            m,
            "{{\"id\":{id},\"conversation_id\":{},\"sender_type\":\"{}\",\"message_text\":\"mensaje {id} con algo de texto realista\",\"media_type\":\"text\",\"created_at\":\"2024-01-{:02} 10:{:02}:{:02}\"}}",
            id % conversations + 1,
            if id.is_multiple_of(2) { "bot" } else { "user" },
            1 + id % 14,
            id % 60,
            id / 60 % 60
        )
        .unwrap();
    }
    m.into_inner().unwrap().sync_all().unwrap();
    (conversations_path, messages_path, conversations)
}

/// Peak RSS an import may reach at 1,000,000 messages: it keeps ~32 bytes a message.
const IMPORT_RSS_BUDGET_KIB: u64 = 128 * 1024;

fn import_throughput(r: &mut Results) {
    // DynamoDB Local starts on first use: not inside the timed run.
    let _ = dynamodb();
    let dir = workspace_root().join("target/bench-import");
    std::fs::create_dir_all(&dir).unwrap();
    let (conversations_path, messages_path, conversations) = write_jsonl(&dir, IMPORT_MESSAGES);
    let table = "bench-import";
    timed_admin(&["--table", table, "create-table"]);
    let (secs, rss) = timed_admin(&[
        "--table",
        table,
        "import",
        "--conversations",
        conversations_path.to_str().unwrap(),
        "--messages",
        messages_path.to_str().unwrap(),
    ]);
    let rows = IMPORT_MESSAGES + conversations;
    r.add(
        "Import",
        format!("convo-admin import, {IMPORT_MESSAGES} messages + {conversations} conversations (into DynamoDB Local)"),
        format!("{:.0} rows/s ({secs:.1} s)", rows as f64 / secs),
    );
    r.add("Import", "peak RSS of that import", mb(rss));

    // Memory at a million messages: pass 1 alone (a dry run) keeps everything the import
    // keeps; pass 2 only adds chunks in flight (the 100k run above).
    let (conversations_path, messages_path, conversations) = write_jsonl(&dir, DUMP_MESSAGES);
    let (secs, rss) = timed_admin(&[
        "import",
        "--conversations",
        conversations_path.to_str().unwrap(),
        "--messages",
        messages_path.to_str().unwrap(),
        "--dry-run",
    ]);
    r.add(
        "Import",
        format!("JSON Lines --dry-run, {DUMP_MESSAGES} messages + {conversations} conversations"),
        format!(
            "{:.0} rows/s ({secs:.1} s)",
            (DUMP_MESSAGES + conversations) as f64 / secs
        ),
    );
    r.check(
        "Import",
        "peak RSS of that dry run",
        mb(rss),
        "≤ 128 MB",
        rss.is_none_or(|k| k <= IMPORT_RSS_BUDGET_KIB),
    );
    for path in [conversations_path, messages_path] {
        let _ = std::fs::remove_file(path);
    }
}

// ---- mysqldump import ----------------------------------------------------------------

const DUMP_MESSAGES: u64 = 1_000_000;
const DUMP_CONVERSATIONS: u64 = 10_000;
/// mariadb-dump's extended INSERTs hold as many rows as fit in --net-buffer-length (1 MB
/// by default): a few thousand short rows; 1,000 keeps statements of ~150 KB.
const DUMP_ROWS_PER_INSERT: u64 = 1_000;

/// A dump as mariadb-dump writes it (header, CREATE TABLE, LOCK, extended INSERTs with one
/// row a line, escapes, 4-byte UTF-8), with an unrelated table at the end.
fn write_dump(path: &Path) -> u64 {
    use std::io::Write;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let time = |secs: u64| {
        Timestamp::from_second(1_704_067_200 + secs as i64)
            .unwrap()
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    write!(
        w,
        "/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19 (generated by make bench)\n\n\
         /*!40101 SET NAMES utf8mb4 */;\n/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;\n\
         /*!40103 SET TIME_ZONE='+00:00' */;\n\n\
         DROP TABLE IF EXISTS `conversations`;\nCREATE TABLE `conversations` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n\
         \x20 `phone_number` varchar(50) NOT NULL,\n  `contact_name` varchar(255) DEFAULT NULL,\n\
         \x20 `status` enum('active','closed','pending_human') NOT NULL DEFAULT 'active',\n\
         \x20 `ai_enabled` tinyint(1) NOT NULL DEFAULT 1,\n  `last_message_at` timestamp NOT NULL DEFAULT current_timestamp(),\n\
         \x20 `last_bot_message_at` timestamp NULL DEFAULT NULL,\n  `created_at` timestamp NOT NULL DEFAULT current_timestamp(),\n\
         \x20 `updated_at` timestamp NOT NULL DEFAULT current_timestamp(),\n  PRIMARY KEY (`id`)\n\
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\nLOCK TABLES `conversations` WRITE;\n"
    )
    .unwrap();
    for id in 1..=DUMP_CONVERSATIONS {
        let sep = if id % DUMP_ROWS_PER_INSERT == 1 {
            "INSERT INTO `conversations` VALUES\n"
        } else {
            ",\n"
        };
        let name = if id % 7 == 0 {
            "NULL".to_string()
        } else {
            format!("'Cliente N\\'{id}'")
        };
        write!(
            w,
            "{sep}({id},'57300{id:07}',{name},'{}',{},'{}',NULL,'{}','{}')",
            Status::ALL[(id % 3) as usize].as_str(),
            id % 2,
            time(DUMP_MESSAGES + id),
            time(id),
            time(DUMP_MESSAGES + id)
        )
        .unwrap();
        if id % DUMP_ROWS_PER_INSERT == 0 || id == DUMP_CONVERSATIONS {
            w.write_all(b";\n").unwrap();
        }
    }
    w.write_all(b"UNLOCK TABLES;\n\nLOCK TABLES `messages` WRITE;\n")
        .unwrap();
    for id in 1..=DUMP_MESSAGES {
        let sep = if id % DUMP_ROWS_PER_INSERT == 1 {
            "INSERT INTO `messages` VALUES\n"
        } else {
            ",\n"
        };
        let (sender, context, score) = match id % 3 {
            0 => ("user", "NULL", "NULL"),
            1 => ("bot", "'Catálogo \\\"2024\\\"'", "0.87"),
            _ => ("human", "NULL", "NULL"),
        };
        write!(
            w,
            "{sep}({id},{},'wamid.HBgM{id}','{sender}','Mensaje {id}: ¿todo bien? Sí, \\'claro\\' 🎉 \\\\ línea\\nsiguiente',\
             NULL,'text',{context},{score},'{}')",
            id % DUMP_CONVERSATIONS + 1,
            time(id)
        )
        .unwrap();
        if id % DUMP_ROWS_PER_INSERT == 0 || id == DUMP_MESSAGES {
            w.write_all(b";\n").unwrap();
        }
    }
    w.write_all(
        b"UNLOCK TABLES;\nINSERT INTO `settings` VALUES ('welcome','Hola'),('bye',NULL);\n\
          /*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n\n-- Dump completed\n",
    )
    .unwrap();
    // On disk before timing: writing back 160 MB of dirty pages would slow the reads.
    w.into_inner().unwrap().sync_all().unwrap();
    file_size(path)
}

/// Runs the release convo-admin against DynamoDB Local; its wall time and, where /usr/bin/time
/// exists, its peak RSS in KiB.
fn timed_admin(args: &[&str]) -> (f64, Option<u64>) {
    let admin = workspace_root().join("target/release/convo-admin");
    assert!(admin.exists(), "{} missing: run `make bench`", admin.display());
    let gnu_time = Path::new("/usr/bin/time");
    let mut command = if gnu_time.exists() {
        let mut c = Command::new(gnu_time);
        c.args(["-f", "peak-rss-kib %M"]).arg(&admin);
        c
    } else {
        Command::new(&admin)
    };
    let started = Instant::now();
    let out = command
        .args(args)
        .env("AWS_ENDPOINT_URL_DYNAMODB", &dynamodb().endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run convo-admin");
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "convo-admin {args:?} failed: {stderr}");
    let rss = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib ")?.trim().parse().ok());
    (secs, rss)
}

fn mb(kib: Option<u64>) -> String {
    kib.map_or("n/a (no /usr/bin/time)".into(), |k| {
        format!("{:.0} MB", k as f64 / 1024.0)
    })
}

fn dump_import(r: &mut Results) {
    // DynamoDB Local starts on first use: not inside the first timed run.
    let _ = dynamodb();
    let dir = workspace_root().join("target/bench-import");
    std::fs::create_dir_all(&dir).unwrap();
    let dump = dir.join("legacy-1m.sql");
    let bytes = write_dump(&dump);
    let dump_arg = dump.to_str().unwrap();
    let rows = DUMP_MESSAGES + DUMP_CONVERSATIONS;
    let size = format!("{:.0} MB", bytes as f64 / 1e6);

    let (secs, rss) = timed_admin(&["import", "--mysqldump", dump_arg, "--dry-run"]);
    r.add(
        "mysqldump import",
        format!(
            "parse rate alone: --dry-run (read, map, validate) of a {size} dump, {DUMP_MESSAGES} messages"
        ),
        format!(
            "{:.0} MB/s, {:.0} rows/s ({secs:.1} s)",
            bytes as f64 / 1e6 / secs,
            rows as f64 / secs
        ),
    );
    r.add("mysqldump import", "peak RSS of that dry run", mb(rss));

    let gz = dir.join("legacy-1m.sql.gz");
    let gzip = Command::new("gzip")
        .args(["-1", "-c", dump_arg])
        .stdout(std::fs::File::create(&gz).unwrap())
        .status();
    if gzip.is_ok_and(|s| s.success()) {
        let (secs, _) = timed_admin(&["import", "--mysqldump", gz.to_str().unwrap(), "--dry-run"]);
        r.add(
            "mysqldump import",
            format!(
                "the same dump gzipped ({:.0} MB): --dry-run",
                file_size(&gz) as f64 / 1e6
            ),
            format!(
                "{:.0} MB/s of SQL, {:.0} rows/s ({secs:.1} s)",
                bytes as f64 / 1e6 / secs,
                rows as f64 / secs
            ),
        );
    }

    let table = "bench-dump-import";
    timed_admin(&["--table", table, "create-table"]);
    let (secs, rss) = timed_admin(&["--table", table, "import", "--mysqldump", dump_arg]);
    r.add(
        "mysqldump import",
        format!(
            "end to end into DynamoDB Local: {DUMP_MESSAGES} messages + {DUMP_CONVERSATIONS} conversations"
        ),
        format!("{:.0} rows/s ({secs:.1} s)", rows as f64 / secs),
    );
    r.add("mysqldump import", "peak RSS of that import", mb(rss));
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores, {}", std::env::consts::ARCH)
}

fn commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(workspace_root())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn write_results(r: &Results) -> String {
    let mut md = String::new();
    md.push_str("# Benchmark results\n\nWritten by `make bench` (`bench/src/main.rs`); budgets from the performance issue.\n\n");
    md.push_str(&format!(
        "| date | machine | commit |\n| --- | --- | --- |\n| {} | {} | {} |\n",
        Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        machine(),
        commit()
    ));
    // Grouped by section, in the order sections first appear.
    let mut sections: Vec<&str> = Vec::new();
    for f in &r.figures {
        if !sections.contains(&f.section) {
            sections.push(f.section);
        }
    }
    let grouped = sections
        .iter()
        .flat_map(|s| r.figures.iter().filter(move |f| f.section == *s));
    let mut section = "";
    for f in grouped {
        if f.section != section {
            section = f.section;
            md.push_str(&format!(
                "\n## {section}\n\n| what | measured | budget |\n| --- | --- | --- |\n"
            ));
        }
        let budget = match &f.budget {
            None => "–".to_string(),
            Some((b, true)) => format!("{b} ✓"),
            Some((b, false)) => format!("**{b} BROKEN**"),
        };
        md.push_str(&format!("| {} | {} | {budget} |\n", f.what, f.value));
    }
    md.push_str(
        "\nNotes: DynamoDB is AWS's DynamoDB Local here (in memory, on this machine), so \"whole \
         invocation\" times and import rows/s include a local JVM's answers, not a region's; items \
         read, round trips and RCU come from its answers (`ScannedCount`, items returned, \
         `ConsumedCapacity`, computed from item sizes). A round trip is a wait: requests sent \
         together count once. Init and warm figures run the release \
         `bootstrap` built by `cargo lambda build --release` under a local Runtime API \
         (`tests/harness/runtime_api.rs`), DynamoDB Local behind a timing relay \
         (`FaultyEndpoint::timing`): an invocation's CPU is event handed over → response \
         received, minus the time its requests spent beyond the relay. The hello floor is \
         `bench/hello` (same runtime crates and profile, no SDK), cold-started in the same rounds \
         as the functions. Init and cold-request budgets compare CPU time (the kernel's \
         schedstat, read while the process waits on the Runtime API): on this VM the wall-clock \
         init of one binary moved between 1.8 and 4.2 ms from run to run. The memory model \
         stretches the measured CPU by 1,769 MB / memory (one vCPU at 1,769 MB) and adds 4 ms per \
         DynamoDB round trip, at Lambda arm64's list price. The Node.js and Python functions are \
         the minimal runtime loops in `bench/runtimes/`.\n",
    );
    md
}

/// `bench mysqldump` measures only the dump import and replaces its section of an
/// existing bench/results.md (the full run takes some 25 minutes).
fn only_mysqldump() -> ExitCode {
    let mut r = Results::default();
    eprintln!(
        "measuring mysqldump import ({DUMP_MESSAGES} messages; several minutes against DynamoDB Local) …"
    );
    dump_import(&mut r);
    println!("{}", update_sections(&r, "make bench-mysqldump"));
    ExitCode::SUCCESS
}

/// A partial run's figures into bench/results.md: each of its sections replaces the
/// section of that name (or goes before the notes), marked with the run that measured it;
/// the others stay. Returns the new sections.
fn update_sections(r: &Results, run: &str) -> String {
    let fresh = write_results(r);
    let path = workspace_root().join("bench/results.md");
    let mut md = std::fs::read_to_string(&path).unwrap_or_default();
    let section = |md: &str, heading: &str| -> Option<(usize, usize)> {
        let start = md.find(heading)?;
        let rest = start + heading.len();
        let end = md[rest..]
            .find("\n## ")
            .or_else(|| md[rest..].find("\nNotes:"))
            .map_or(md.len(), |e| rest + e);
        Some((start, end))
    };
    let mut sections = String::new();
    let mut headings: Vec<&str> = Vec::new();
    for f in &r.figures {
        if !headings.contains(&f.section) {
            headings.push(f.section);
        }
    }
    for name in headings {
        let heading = format!("\n## {name}\n");
        let Some((s, e)) = section(&fresh, &heading) else {
            continue;
        };
        let new_section = format!(
            "{heading}\n_Measured by `{run}`, {}, commit {}._\n{}",
            Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
            commit(),
            &fresh[s + heading.len()..e]
        );
        md = match section(&md, &heading) {
            Some((a, b)) => format!("{}{new_section}{}", &md[..a], &md[b..]),
            None => match md.find("\nNotes:") {
                Some(n) => format!("{}{new_section}\n{}", &md[..n], &md[n..]),
                None => format!("{md}{new_section}"),
            },
        };
        sections.push_str(&new_section);
    }
    std::fs::write(&path, &md).expect("write bench/results.md");
    sections
}

/// `bench functions` (`make bench-functions`) measures only the functions (init and cold
/// request against the hello floor, warm CPU, memory, the memory-size model, size) and
/// replaces those sections of bench/results.md: the quick check of a change.
async fn only_functions() -> ExitCode {
    let mut r = Results::default();
    let sdk = sdk_config().await;
    let warm_table = integration_tests::unique_table_name("bench-warm");
    let warm = Store::new(client::dynamodb_client(&sdk), &warm_table);
    writer::Writer::of(&warm)
        .ensure_table()
        .await
        .expect("create the warm table");
    load_bench_data(&warm, 100, 400).await;
    eprintln!("measuring init, warm invocations, memory …");
    tokio::task::block_in_place(|| functions::init_and_warm(&mut r, &warm_table));
    sizes(&mut r);
    println!("{}", update_sections(&r, "make bench-functions"));
    if r.broken().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `bench profile FUNCTION N` (`make profile`): N warm invocations of FUNCTION's timed
/// request in this process, as the runtime makes them (event bytes → handler → response
/// bytes), against DynamoDB Local: something for `perf record` to sample. Prints the mean
/// time per invocation, DynamoDB's wait included.
async fn profile(function: &str, n: u32) -> ExitCode {
    let sdk = sdk_config().await;
    let table = integration_tests::unique_table_name("bench-profile");
    let store = Store::new(client::dynamodb_client(&sdk), &table);
    writer::Writer::of(&store)
        .ensure_table()
        .await
        .expect("create the profile table");
    load_bench_data(&store, 100, 400).await;
    let config = shared::config::Config::from_lookup(|k| (k == "TABLE_NAME").then(|| table.clone()))
        .expect("a valid configuration");
    let app = shared::http::App { store, config };
    let url = functions::warm_url(function);
    let routes = apigw::Function::of(url).routes();
    let event = serde_json::to_vec(&apigw::event("GET", url)).unwrap();
    let started = Instant::now();
    for _ in 0..n {
        let payload: shared::http::HttpEvent = serde_json::from_slice(&event).expect("an event");
        // What the runtime loop does: the answer's JSON, then the runtime's serde_json::to_vec.
        let response = shared::http::answer(&app, routes, payload, None).await;
        let sent = serde_json::to_vec(&response).expect("a response");
        assert!(sent.starts_with(br#"{"statusCode":200,"#));
        std::hint::black_box(sent);
    }
    let per = started.elapsed() / n.max(1);
    println!(
        "{function}: {n} invocations of {url}, {} per invocation (DynamoDB Local included)",
        ms(per)
    );
    ExitCode::SUCCESS
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("mysqldump") => return tokio::task::block_in_place(only_mysqldump),
        Some("functions") => return only_functions().await,
        Some("sync") => {
            let mut r = Results::default();
            sync::sync(&mut r).await;
            println!("{}", update_sections(&r, "make bench-sync"));
            return ExitCode::SUCCESS;
        }
        Some("instructions") => {
            let dir = args.get(2).filter(|d| !d.is_empty()).map(PathBuf::from);
            let warm = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(100);
            let sdk = sdk_config().await;
            let table = integration_tests::unique_table_name("bench-instructions");
            let store = Store::new(client::dynamodb_client(&sdk), &table);
            writer::Writer::of(&store)
                .ensure_table()
                .await
                .expect("create the table");
            load_bench_data(&store, 100, 400).await;
            let endpoint = &dynamodb().endpoint;
            tokio::task::block_in_place(|| instructions::instructions(&table, endpoint, dir, warm));
            return ExitCode::SUCCESS;
        }
        Some("profile") => {
            let function = args.get(2).map_or("get-conversations", String::as_str);
            let n = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(5_000);
            return profile(function, n).await;
        }
        _ => {}
    }
    let mut r = Results::default();
    let sdk = sdk_config().await;
    let table = integration_tests::unique_table_name("bench");
    let store = Store::new(client::dynamodb_client(&sdk), &table);
    writer::Writer::of(&store)
        .ensure_table()
        .await
        .expect("create the bench table");
    eprintln!("loading {MESSAGES_IN_BIG_CONVERSATION} messages and {CONVERSATIONS} conversations …");
    load_bench_data(&store, MESSAGES_IN_BIG_CONVERSATION, CONVERSATIONS).await;
    eprintln!("measuring DynamoDB cost per request …");
    dynamodb_costs(&mut r, &store).await;
    phone_lookup_costs(&mut r, &store).await;
    counts_costs(&mut r, &store).await;
    queue_costs(&mut r, &store).await;
    poll_costs(&mut r, &store).await;
    stats_costs(&mut r, &store).await;
    let large_table = integration_tests::unique_table_name("bench-large");
    let large = Store::new(client::dynamodb_client(&sdk), &large_table);
    writer::Writer::of(&large)
        .ensure_table()
        .await
        .expect("create the large-items table");
    integration_tests::fixtures::large::load(&large).await;
    large_item_costs(&mut r, &large).await;
    // Warm invocations read pages of the same sizes (100 conversations, 20 messages) from a
    // smaller table: DynamoDB's share is subtracted anyway.
    let warm_table = integration_tests::unique_table_name("bench-warm");
    let warm = Store::new(client::dynamodb_client(&sdk), &warm_table);
    writer::Writer::of(&warm)
        .ensure_table()
        .await
        .expect("create the warm table");
    load_bench_data(&warm, 100, 400).await;
    eprintln!("measuring init, warm invocations, memory …");
    let inits = tokio::task::block_in_place(|| functions::init_and_warm(&mut r, &warm_table));
    eprintln!("measuring Node.js and Python init …");
    tokio::task::block_in_place(|| functions::comparisons(&mut r, &inits, &warm_table));
    sizes(&mut r);
    eprintln!("measuring import throughput ({IMPORT_MESSAGES} messages) …");
    tokio::task::block_in_place(|| import_throughput(&mut r));
    eprintln!(
        "measuring mysqldump import ({DUMP_MESSAGES} messages; several minutes against DynamoDB Local) …"
    );
    tokio::task::block_in_place(|| dump_import(&mut r));
    eprintln!("measuring sync from MariaDB …");
    sync::sync(&mut r).await;

    let md = write_results(&r);
    std::fs::write(workspace_root().join("bench/results.md"), &md).expect("write bench/results.md");
    println!("{md}");
    let broken = r.broken();
    if broken.is_empty() {
        println!("every budget holds");
        ExitCode::SUCCESS
    } else {
        eprintln!("\n!!!!!!!! {} BUDGET(S) BROKEN !!!!!!!!", broken.len());
        for f in broken {
            eprintln!(
                "  {}: {} (budget {})",
                f.what,
                f.value,
                f.budget.as_ref().map_or("", |b| &b.0)
            );
        }
        ExitCode::FAILURE
    }
}
