//! `convo-admin import --mysqldump` with dumps written by the real mariadb-dump
//! (tests/fixtures/mysqldump, made by scripts/make-mysqldump-fixtures.sh), imported into a
//! real DynamoDB API (DynamoDB Local); then the API's answers for that data, as the contract says.

use integration_tests::live_writes::LiveWrites;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use clap::Parser;
use convo_admin::cli::{Cli, run};
use convo_admin::source::mysqldump::DumpFile;
use convo_admin::source::{Mapped, PlanError, ReadSummary, Source};
use convo_admin::{plan, write};
use indicatif::ProgressBar;
use integration_tests::apigw::{event, invoke};
use integration_tests::{
    all_items, fresh_store, items_unstamped, sdk_config, unique_table_name, workspace_root,
};
use serde_json::{Value, json};
use shared::config::Config;
use shared::http::App;
use shared::{Store, client};

fn fixture(name: &str) -> String {
    let path: PathBuf = workspace_root().join("tests/fixtures/mysqldump").join(name);
    path.display().to_string()
}

async fn admin(table: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec!["convo-admin", "--table", table];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv)?, &sdk_config().await).await
}

/// A fresh table with the dump imported (extra arguments after the file).
async fn imported(dump: &str, extra: &[&str]) -> (String, Store) {
    let table = unique_table_name("dump");
    admin(&table, &["create-table"]).await.unwrap();
    let file = fixture(dump);
    let mut args = vec!["import", "--mysqldump", &file];
    args.extend_from_slice(extra);
    admin(&table, &args).await.unwrap();
    let store = Store::new(client::dynamodb_client(&sdk_config().await), &table);
    (table, store)
}

async fn get(table: &str, url: &str) -> Value {
    let config = Config::from_lookup(|k| (k == "TABLE_NAME").then(|| table.to_string())).unwrap();
    let app = App {
        store: Store::new(client::dynamodb_client(&sdk_config().await), &config.table_name),
        config,
    };
    let reply = invoke(&app, &event("GET", url)).await;
    assert_eq!(reply.status, 200, "{url}: {}", reply.body);
    reply.body
}

/// The 60 KB message of the fixture: REPEAT('ñandú 🦜 ', 4700).
fn long_text() -> String {
    "ñandú 🦜 ".repeat(4700)
}

fn message(id: u64, sender: &str, text: &str, media: &str, created: &str) -> Value {
    json!({
        "id": id, "sender_type": sender, "message_text": text, "audio_url": null, "media_type": media,
        "context_used": null, "confidence_score": null, "created_at": created
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzipped_mariadb_dump_imports_and_the_api_answers_as_the_contract_says() {
    let (table, store) = imported("legacy.sql.gz", &[]).await;

    let list = get(&table, "/api/conversations").await;
    let conversations = list["conversations"].as_array().unwrap();
    // last_message_at descending; the dump's timestamps are UTC (SET TIME_ZONE='+00:00').
    assert_eq!(
        conversations
            .iter()
            .map(|c| c["id"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        conversations[0],
        json!({
            "id": 1, "phone_number": "+573001112233", "contact_name": "María José 🎉", "status": "active",
            "ai_enabled": 1, "last_message_at": "2024-01-15 14:30:25", "created_at": "2024-01-10 09:00:00",
            "last_message": "", "last_sender_type": "customer", "last_message_created_at": "2024-01-15 14:30:25"
        })
    );
    assert_eq!(
        conversations[1],
        json!({
            "id": 2, "phone_number": "555'0102", "contact_name": "O'Brien \"Bob\" \\ back",
            "status": "pending_human", "ai_enabled": 0, "last_message_at": "2024-01-15 13:15:00",
            "created_at": "2024-01-12 11:30:00", "last_message": "third (same second, highest id)",
            "last_sender_type": "customer", "last_message_created_at": "2024-01-15 13:15:00"
        })
    );
    assert_eq!(conversations[2]["contact_name"], json!(null));
    assert_eq!(conversations[2]["status"], json!("closed"));
    assert_eq!(conversations[2]["last_message"], json!(long_text()));
    assert_eq!(
        conversations[3],
        json!({
            "id": 4, "phone_number": "573000000004", "contact_name": "", "status": "active", "ai_enabled": 1,
            "last_message_at": "2024-01-13 17:00:00", "created_at": "2024-01-13 17:00:00",
            "last_message": null, "last_sender_type": null, "last_message_created_at": null
        })
    );

    let one = get(&table, "/api/conversations/1/messages").await;
    let mut bot = message(11, "ai", "Con gusto te ayudo.", "text", "2024-01-15 14:30:05");
    bot["context_used"] = json!("Order tracking \"FAQ\" doc");
    bot["confidence_score"] = json!(0.92);
    let mut audio = message(14, "customer", "", "audio", "2024-01-15 14:30:25");
    audio["audio_url"] = json!("https://media.example.com/a/14.ogg?x=1&y='2'");
    assert_eq!(
        one["messages"],
        json!([
            message(
                10,
                "customer",
                "Hola, ¿cómo están? 🎉👋🏽 𝄞",
                "text",
                "2024-01-15 14:30:00"
            ),
            bot,
            message(
                12,
                "human",
                "It's \"quoted\" \\ back\nline2\r\n\ttab",
                "text",
                "2024-01-15 14:30:10"
            ),
            message(
                13,
                "customer",
                "nul:\0 ctrl-z:\u{1a} end",
                "text",
                "2024-01-15 14:30:20"
            ),
            audio,
        ])
    );
    assert_eq!(
        (one["total"].clone(), one["has_more"].clone()),
        (json!(5), json!(false))
    );

    // Equal created_at: ordered by id.
    let two = get(&table, "/api/conversations/2/messages").await;
    let ids: Vec<u64> = two["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [19, 20, 21, 22]);
    assert_eq!(two["messages"][0]["media_type"], json!("document"));
    assert_eq!(
        (
            &two["messages"][2]["sender_type"],
            &two["messages"][2]["context_used"],
            &two["messages"][2]["confidence_score"]
        ),
        (&json!("ai"), &json!(""), &json!(0.5))
    );

    let three = get(&table, "/api/conversations/3/messages").await;
    assert_eq!(
        three["messages"],
        json!([message(
            30,
            "customer",
            &long_text(),
            "video",
            "2024-01-15 01:00:00"
        )])
    );
    let four = get(&table, "/api/conversations/4/messages").await;
    assert_eq!(
        (four["messages"].clone(), four["total"].clone()),
        (json!([]), json!(0))
    );

    // The id counters are past the imported ids.
    let created = store
        .create_conversation(integration_tests::live_writes::NewConversation::active(
            "new-number",
        ))
        .await
        .unwrap();
    assert_eq!(created.id, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_dump_gives_the_same_items_and_a_rerun_changes_nothing() {
    let (_, reference) = imported("legacy.sql", &[]).await;
    let expected = items_unstamped(&reference).await;
    assert_eq!(
        expected.len(),
        4 * 2 + 10 + 2 + 1,
        "conversations, phone claims, messages, counters, the tally (its shards summed)"
    );

    for (dump, extra) in [
        ("legacy.sql.gz", &[][..]),
        ("legacy-complete-insert.sql", &[][..]),
        // Made with --skip-tz-utc: local times of the old server, so the zone is needed.
        (
            "legacy-skip-tz-utc.sql",
            &["--source-timezone", "America/Bogota"][..],
        ),
        // A dump's own SET TIME_ZONE='+00:00' wins over --source-timezone.
        ("legacy.sql", &["--source-timezone", "America/Bogota"][..]),
    ] {
        let (_, store) = imported(dump, extra).await;
        assert_eq!(items_unstamped(&store).await, expected, "{dump} {extra:?}");
    }

    let table = unique_table_name("dump");
    admin(&table, &["create-table"]).await.unwrap();
    let file = fixture("legacy.sql");
    admin(&table, &["import", "--mysqldump", &file]).await.unwrap();
    admin(&table, &["import", "--mysqldump", &file]).await.unwrap();
    let store = Store::new(client::dynamodb_client(&sdk_config().await), &table);
    assert_eq!(items_unstamped(&store).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_dump_stops_with_its_line_and_nothing_is_written() {
    let table = unique_table_name("dump");
    admin(&table, &["create-table"]).await.unwrap();
    let store = Store::new(client::dynamodb_client(&sdk_config().await), &table);

    let err = admin(
        &table,
        &["import", "--mysqldump", &fixture("legacy-malformed.sql")],
    )
    .await
    .unwrap_err();
    assert!(
        format!("{err:#}")
            .ends_with("legacy-malformed.sql:89: expected ',' or ';' after a row of `messages`, found '('"),
        "{err:#}"
    );
    assert!(all_items(&store).await.is_empty());

    // A well-formed row that cannot be mapped: named by line, table, row and column.
    let sql = std::fs::read_to_string(fixture("legacy.sql"))
        .unwrap()
        .replace("'human'", "'robot'");
    let bad = std::env::temp_dir().join(format!("{table}-robot.sql"));
    std::fs::write(&bad, sql).unwrap();
    let err = admin(&table, &["import", "--mysqldump", &bad.display().to_string()])
        .await
        .unwrap_err();
    std::fs::remove_file(&bad).unwrap();
    assert!(
        format!("{err:#}").ends_with("-robot.sql:88: messages row 3: sender_type: must be user, bot, human (or customer, ai), got \"robot\""),
        "{err:#}"
    );
    assert!(all_items(&store).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_reads_everything_and_writes_nothing() {
    let table = unique_table_name("dump");
    admin(&table, &["create-table"]).await.unwrap();
    admin(
        &table,
        &["import", "--mysqldump", &fixture("legacy.sql.gz"), "--dry-run"],
    )
    .await
    .unwrap();
    let store = Store::new(client::dynamodb_client(&sdk_config().await), &table);
    assert!(all_items(&store).await.is_empty());
    // Validation still runs in a dry run.
    let err = admin(
        &table,
        &[
            "import",
            "--mysqldump",
            &fixture("legacy-malformed.sql"),
            "--dry-run",
        ],
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains(":89: "), "{err:#}");
}

/// Pass 1 reads one dump, pass 2 another: a file that changed between the passes in a way
/// its size and modification time do not give away.
struct ChangedBetweenPasses {
    first: DumpFile,
    second: DumpFile,
    reads: AtomicU32,
}

impl Source for ChangedBetweenPasses {
    fn name(&self) -> &str {
        self.first.name()
    }

    fn size(&self) -> u64 {
        self.first.size()
    }

    fn read(
        &self,
        bar: &ProgressBar,
        each: &mut dyn FnMut(u64, Mapped) -> Result<(), PlanError>,
    ) -> Result<ReadSummary, PlanError> {
        match self.reads.fetch_add(1, Ordering::SeqCst) {
            0 => self.first.read(bar, each),
            _ => self.second.read(bar, each),
        }
    }
}

/// Message items and the id counters only (an import raises those before it writes any
/// row): no conversation nor its phone claim was written, so whatever messages were written
/// are not shown by the API.
async fn only_messages(store: &Store) -> bool {
    all_items(store).await.iter().all(|item| {
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok());
        text("pk").is_some_and(|pk| pk == shared::table::COUNTER_PK)
            || text("sk").is_some_and(|sk| sk.starts_with("M#"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_that_reads_differently_the_second_time_writes_no_conversation() {
    let original = std::fs::read_to_string(fixture("legacy.sql")).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(original.contains(from), "{from}");
        original.replacen(from, to, 1)
    };
    let row = |id: u64| {
        let start = format!("({id},");
        original
            .lines()
            .find(|l| l.starts_with(&start))
            .unwrap()
            .to_string()
    };
    let cases = [
        (
            edit("'2024-01-15 14:30:10'", "'2024-01-15 14:31:10'"),
            "message 12 has created_at 2024-01-15T14:31:10Z but had 2024-01-15T14:30:10Z on the first read",
        ),
        (
            edit("(13,1,", "(13,2,"),
            "message 13 is in conversation 2 but was in 1 on the first read",
        ),
        (
            edit("(21,2,", "(23,2,"),
            "message 23 was not there on the first read",
        ),
        // Ten rows still, but one of them twice.
        (
            edit(&row(21), &row(20)),
            "message 20 appears twice, once on the first read",
        ),
        (
            edit(&format!("{}\n", row(22)), ""),
            "9 messages read where the first read had 10",
        ),
        (
            edit("third (same second, highest id)", "third, edited"),
            "message 22, the newest of conversation 2, differs from the first read",
        ),
    ];
    for (i, (sql, expected)) in cases.into_iter().enumerate() {
        let second = std::env::temp_dir().join(format!("changed-{}-{i}.sql", std::process::id()));
        std::fs::write(&second, sql).unwrap();
        let source = Arc::new(ChangedBetweenPasses {
            first: DumpFile::open(Path::new(&fixture("legacy.sql")), None).unwrap(),
            second: DumpFile::open(&second, None).unwrap(),
            reads: AtomicU32::new(0),
        });
        let plan = Arc::new(plan::plan(source.as_ref(), &ProgressBar::hidden()).unwrap());
        let store = fresh_store().await;
        let err = write::write(&writer::Writer::of(&store), source, plan, &ProgressBar::hidden())
            .await
            .unwrap_err();
        std::fs::remove_file(&second).unwrap();
        let err = format!("{err:#}");
        assert!(
            err.contains(&format!(
                ": {expected}: the file changed between the two reads; stopped before \
                 writing the conversations (the messages written so far are not shown); re-run the \
                 import with an unchanged file"
            )),
            "{err}"
        );
        assert!(only_messages(&store).await, "{expected}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_file_changed_after_the_first_read_is_refused_before_anything_is_written() {
    let path = std::env::temp_dir().join(format!("growing-{}.sql", std::process::id()));
    std::fs::copy(fixture("legacy.sql"), &path).unwrap();
    let source = Arc::new(DumpFile::open(&path, None).unwrap());
    let plan = Arc::new(plan::plan(source.as_ref(), &ProgressBar::hidden()).unwrap());
    // Still being written: more rows arrive after pass 1.
    let mut more = std::fs::read_to_string(&path).unwrap();
    more.push_str("INSERT INTO `messages` VALUES (40,4,NULL,'user','late',NULL,'text',NULL,NULL,'2024-01-16 00:00:00');\n");
    std::fs::write(&path, more).unwrap();
    let store = fresh_store().await;
    let err = write::write(&writer::Writer::of(&store), source, plan, &ProgressBar::hidden())
        .await
        .unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(
        format!("{err:#}").ends_with(
            "growing-{}.sql:0: the file changed since the import started reading it (size, modification \
             time or the file itself); re-run the import with an unchanged file"
                .replace("{}", &std::process::id().to_string())
                .as_str()
        ),
        "{err:#}"
    );
    assert!(all_items(&store).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_created_during_an_import_keeps_its_own_id() {
    use integration_tests::faults::FaultyEndpoint;
    let table = unique_table_name("dump");
    admin(&table, &["create-table"]).await.unwrap();
    let file = fixture("legacy.sql");
    // The import stops at its first write of rows, as if the live writer came in then.
    let endpoint = FaultyEndpoint::refusing(&integration_tests::dynamodb().endpoint, "BatchWriteItem");
    let argv = ["convo-admin", "--table", &table, "import", "--mysqldump", &file];
    let sdk = integration_tests::sdk_config_for(&endpoint.url).await;
    assert!(run(Cli::try_parse_from(argv).unwrap(), &sdk).await.is_err());
    let store = Store::new(client::dynamodb_client(&sdk_config().await), &table);
    let live = store
        .create_conversation(integration_tests::live_writes::NewConversation::active(
            "573990000002",
        ))
        .await
        .unwrap();
    // The import, run again, completes beside it and leaves it as it was.
    admin(&table, &["import", "--mysqldump", &file]).await.unwrap();
    let after = store.get_conversation(live.id).await.unwrap().unwrap();
    assert_eq!(after, live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_row_over_dynamodbs_item_limit_stops_in_pass_one_and_nothing_is_written() {
    // The fixture's schema, with one message of 450 KB appended (a MEDIUMTEXT column).
    let dump = std::fs::read_to_string(fixture("legacy-complete-insert.sql")).unwrap();
    let cut = dump.find("/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;").unwrap();
    let big = format!(
        "INSERT INTO `messages` (`id`, `conversation_id`, `message_id`, `sender_type`, `message_text`, \
         `audio_url`, `media_type`, `context_used`, `confidence_score`, `created_at`) VALUES \
         (999,1,NULL,'bot','{}',NULL,'text','{}',0.9,'2024-01-15 14:31:00');\n",
        "r".repeat(250 * 1024),
        "c".repeat(200 * 1024)
    );
    let line = dump[..cut].lines().count() + 1;
    let dir = workspace_root().join("target/tmp");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.sql", unique_table_name("oversized-dump")));
    std::fs::write(&path, format!("{}{big}{}", &dump[..cut], &dump[cut..])).unwrap();

    let table = unique_table_name("dump");
    admin(&table, &["create-table"]).await.unwrap();
    let file = path.display().to_string();
    let err = admin(&table, &["import", "--mysqldump", &file])
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    let place = format!(":{line}: message 999 of conversation 1 would be a DynamoDB item of ");
    assert!(text.contains(&place), "{text}");
    let store = Store::new(client::dynamodb_client(&sdk_config().await), &table);
    assert!(all_items(&store).await.is_empty());
}
