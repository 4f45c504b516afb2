//! `convo-admin` commands, run in-process against a real DynamoDB API (DynamoDB Local).

use integration_tests::live_writes::LiveWrites;
use std::path::PathBuf;

use clap::Parser;
use convo_admin::cli::{Cli, run};
use integration_tests::live_writes::NewConversation;
use integration_tests::{all_items, sdk_config, unique_table_name, workspace_root};
use shared::model::{MediaType, SenderType, Status};
use shared::store::ListQuery;
use shared::string_json::StringJson;
use shared::view::Presentation;
use shared::{Store, client};

fn fixture(name: &str) -> String {
    let path: PathBuf = workspace_root().join("tests/fixtures/legacy").join(name);
    path.display().to_string()
}

async fn admin(table: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec!["convo-admin", "--table", table];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv)?, &sdk_config().await).await
}

async fn store_for(table: &str) -> Store {
    Store::new(client::dynamodb_client(&sdk_config().await), table)
}

async fn import_fixture(table: &str, messages: &str) -> anyhow::Result<()> {
    admin(
        table,
        &[
            "import",
            "--conversations",
            &fixture("conversations.jsonl"),
            "--messages",
            &fixture(messages),
            "--source-timezone",
            "America/Bogota",
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_table_is_idempotent() {
    let table = unique_table_name("admin");
    admin(&table, &["create-table"]).await.unwrap();
    admin(&table, &["create-table"]).await.unwrap();
    let described = store_for(&table)
        .await
        .client()
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let lines = writer::description_lines(described.table().unwrap());
    assert_eq!(lines, writer::spec_lines(&shared::table::spec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_keeps_ids_maps_senders_converts_times_and_positions_messages() {
    let table = unique_table_name("admin");
    admin(&table, &["create-table"]).await.unwrap();
    import_fixture(&table, "messages.jsonl").await.unwrap();
    let store = store_for(&table).await;
    let show = Presentation::default();

    let list = store
        .list_conversations(ListQuery {
            waiting: false,
            status: None,
            limit: 100,
            after: None,
        })
        .await
        .unwrap();
    // last_message_at desc, equal times (7 and 2) by id desc.
    assert_eq!(
        list.conversations.iter().map(|c| c.id).collect::<Vec<_>>(),
        [1, 7, 2, 9]
    );
    // As the function writes it: a JSON string, whose content is the JSON a client reads.
    let first = StringJson::of(&show.conversation(&list.conversations[0])).finish();
    let first: String = serde_json::from_str(&first).unwrap();
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(
        first,
        serde_json::json!({
            "id": 1, "phone_number": "1234567890", "contact_name": "John Doe", "status": "active",
            "ai_enabled": 1, "last_message_at": "2024-01-15 14:30:25", "created_at": "2024-01-10 09:00:00",
            "last_message": "Thank you for your help! 🙏", "last_sender_type": "customer",
            "last_message_created_at": "2024-01-15 14:30:25"
        })
    );
    let nine = &list.conversations[3];
    assert_eq!(nine.contact_name.as_deref(), Some(""));
    assert!(nine.last_message.is_none());
    let nine = store.get_conversation(9).await.unwrap().expect("conversation 9");
    assert!(nine.last_message.is_none() && nine.message_count == 0);
    assert_eq!(list.conversations[1].contact_name, None);

    let page = store.message_page(1, 0, 20).await.unwrap();
    assert_eq!(
        page.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        [45, 46, 47, 48, 49]
    );
    assert_eq!(page.total, 5);
    let senders: Vec<SenderType> = page.messages.iter().map(|m| m.sender_type).collect();
    use SenderType::*;
    assert_eq!(senders, [Customer, Ai, Customer, Human, Customer]);
    assert_eq!(page.messages[1].confidence_score, Some(0.92));
    assert_eq!(
        page.messages[3].message_text,
        "Soy Laura, \"agente\" humana.\nLínea 2\ttab"
    );
    assert_eq!(show.time(page.messages[0].created_at), "2024-01-15 10:30:00");

    let two = store.message_page(2, 0, 20).await.unwrap();
    assert_eq!(two.messages[0].media_type, MediaType::Audio);
    assert_eq!(
        two.messages[0].audio_url.as_deref(),
        Some("https://media.example.com/a/50.ogg")
    );
    assert_eq!(two.messages[1].confidence_score, Some(0.55));

    // Ids allocated after the import come after the legacy ones.
    let created = store
        .create_conversation(NewConversation::active("new-number"))
        .await
        .unwrap();
    assert_eq!(created.id, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_the_same_import_again_changes_nothing() {
    let table = unique_table_name("admin");
    admin(&table, &["create-table"]).await.unwrap();
    import_fixture(&table, "messages.jsonl").await.unwrap();
    let store = store_for(&table).await;
    let before = all_items(&store).await;
    let tally_shard =
        |it: &&shared::item::Item| it.get("pk") == Some(&shared::item::s(shared::table::TALLY_PK));
    assert_eq!(
        before.iter().filter(|it| !tally_shard(it)).count(),
        4 * 2 + 9 + 2,
        "conversations, phone claims, messages, counters"
    );
    let counts = shared::model::Tally {
        active: 2,
        pending_human: 1,
        closed: 1,
        messages: 9,
    };
    assert_eq!(store.tally().await.unwrap().0, counts);
    import_fixture(&table, "messages.jsonl").await.unwrap();
    assert_eq!(all_items(&store).await, before);
    assert_eq!(store.tally().await.unwrap().0, counts, "counted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_line_stops_the_import_with_its_place_and_nothing_is_written() {
    let table = unique_table_name("admin");
    admin(&table, &["create-table"]).await.unwrap();
    let err = import_fixture(&table, "bad-messages.jsonl").await.unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("bad-messages.jsonl:3: sender_type: must be user, bot, human"),
        "{text}"
    );
    assert!(all_items(&store_for(&table).await).await.is_empty());

    let err = admin(
        &table,
        &[
            "import",
            "--conversations",
            &fixture("conversations.jsonl"),
            "--messages",
            &fixture("messages.jsonl"),
            "--source-timezone",
            "Mars/Olympus",
        ],
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("--source-timezone \"Mars/Olympus\" is not an IANA time zone"));
    assert!(all_items(&store_for(&table).await).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_writes_nothing() {
    let table = unique_table_name("admin");
    admin(&table, &["create-table"]).await.unwrap();
    let c = fixture("conversations.jsonl");
    let m = fixture("messages.jsonl");
    admin(
        &table,
        &["import", "--conversations", &c, "--messages", &m, "--dry-run"],
    )
    .await
    .unwrap();
    assert!(all_items(&store_for(&table).await).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_does_not_take_a_phone_number_from_another_conversation() {
    let table = unique_table_name("admin");
    admin(&table, &["create-table"]).await.unwrap();
    let store = store_for(&table).await;
    // A live conversation already has John Doe's number.
    writer::Writer::of(&store)
        .raise_id_counters(100, 100)
        .await
        .unwrap();
    store
        .create_conversation(NewConversation::active("1234567890"))
        .await
        .unwrap();
    let before = all_items(&store).await;
    let err = import_fixture(&table, "messages.jsonl").await.unwrap_err();
    assert!(
        format!("{err:#}")
            .contains("phone number 123•••890 of conversation 1 already belongs to conversation 101"),
        "{err:#}"
    );
    assert_eq!(all_items(&store).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_does_not_overwrite_a_conversation_that_changed_since() {
    let table = unique_table_name("admin");
    admin(&table, &["create-table"]).await.unwrap();
    import_fixture(&table, "messages.jsonl").await.unwrap();
    let store = store_for(&table).await;
    store
        .append_message(
            1,
            integration_tests::live_writes::NewMessage::text(SenderType::Customer, "new since the import"),
        )
        .await
        .unwrap();
    let before = all_items(&store).await;
    let err = import_fixture(&table, "messages.jsonl").await.unwrap_err();
    assert!(
        format!("{err:#}").contains("conversation 1 changed in the table"),
        "{err:#}"
    );
    assert_eq!(all_items(&store).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_demo_loads_every_status_and_media_type() {
    let table = unique_table_name("admin");
    admin(&table, &["create-table"]).await.unwrap();
    admin(&table, &["seed-demo"]).await.unwrap();
    let store = store_for(&table).await;
    for status in Status::ALL {
        let page = store
            .list_conversations(ListQuery {
                waiting: false,
                status: Some(status),
                limit: 100,
                after: None,
            })
            .await
            .unwrap();
        assert!(page.conversations.len() >= 10, "{status:?}");
    }
    let all = store
        .list_conversations(ListQuery {
            waiting: false,
            status: None,
            limit: 1000,
            after: None,
        })
        .await
        .unwrap();
    // Voice notes as the legacy webhook stored them: a path on the dashboard's own host.
    let mut audio = Vec::new();
    let mut messages = 0;
    for c in &all.conversations {
        let page = store.message_page(c.id, 0, 20).await.unwrap();
        messages += page.total;
        audio.extend(
            page.messages
                .into_iter()
                .filter(|m| m.media_type == MediaType::Audio),
        );
    }
    assert!(messages >= 200, "{messages}");
    assert!(!audio.is_empty());
    for m in audio {
        let url = m.audio_url.unwrap();
        assert!(
            url.starts_with("/uploads/audios/") && url.ends_with(".ogg"),
            "{url}"
        );
        assert!(!m.message_text.is_empty(), "the transcription");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_configuration_is_reported_clearly() {
    let err = run(
        Cli::try_parse_from(["convo-admin", "--table", "", "create-table"]).unwrap(),
        &sdk_config().await,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("set TABLE_NAME"), "{err}");
}

/// The largest `id` of a JSON Lines fixture.
fn max_id(name: &str) -> u64 {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // Legacy exports write ids as numbers or as strings.
            let id = &serde_json::from_str::<serde_json::Value>(l).unwrap()["id"];
            id.as_u64()
                .unwrap_or_else(|| id.as_str().unwrap().parse().unwrap())
        })
        .max()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_id_counters_are_raised_before_any_imported_row_is_written() {
    use integration_tests::faults::FaultyEndpoint;
    let table = unique_table_name("admin");
    admin(&table, &["create-table"]).await.unwrap();
    // Every write of rows fails: the import stops where a live writer could meet it.
    let endpoint = FaultyEndpoint::refusing(&integration_tests::dynamodb().endpoint, "BatchWriteItem");
    let argv = [
        "convo-admin",
        "--table",
        &table,
        "import",
        "--conversations",
        &fixture("conversations.jsonl"),
        "--messages",
        &fixture("messages.jsonl"),
        "--source-timezone",
        "America/Bogota",
    ];
    let sdk = integration_tests::sdk_config_for(&endpoint.url).await;
    assert!(run(Cli::try_parse_from(argv).unwrap(), &sdk).await.is_err());
    // A conversation and a message created now draw ids above every imported one, so the
    // import, re-run, can never overwrite them.
    let store = store_for(&table).await;
    let created = store
        .create_conversation(NewConversation::active("573990000001"))
        .await
        .unwrap();
    assert!(created.id > max_id("conversations.jsonl"), "{}", created.id);
    let message = store
        .append_message(
            created.id,
            integration_tests::live_writes::NewMessage::text(SenderType::Customer, "hola"),
        )
        .await
        .unwrap();
    assert!(message.id > max_id("messages.jsonl"), "{}", message.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_over_dynamodbs_item_limit_stops_the_import_in_validation_and_nothing_is_written() {
    let dir = workspace_root().join("target/tmp");
    std::fs::create_dir_all(&dir).unwrap();
    let tag = unique_table_name("oversized");
    let conversations = dir.join(format!("{tag}-conversations.jsonl"));
    let messages = dir.join(format!("{tag}-messages.jsonl"));
    std::fs::write(
        &conversations,
        r#"{"id": 1, "phone_number": "573001", "status": "active", "ai_enabled": 1, "last_message_at": "2024-01-15 09:30:25", "created_at": "2024-01-10 04:00:00"}
"#,
    )
    .unwrap();
    // Line 2: a reply of 250 KB with 200 KB of context, 450 KB in all (legacy MEDIUMTEXT
    // columns, or an export from elsewhere, can hold that; DynamoDB cannot).
    let small = serde_json::json!({"id": 1, "conversation_id": 1, "sender_type": "user", "message_text": "hola", "media_type": "text", "created_at": "2024-01-15 09:30:00"});
    let big = serde_json::json!({"id": 2, "conversation_id": 1, "sender_type": "bot", "message_text": "r".repeat(250 * 1024), "media_type": "text", "context_used": "c".repeat(200 * 1024), "created_at": "2024-01-15 09:30:25"});
    std::fs::write(&messages, format!("{small}\n{big}\n")).unwrap();

    let table = unique_table_name("admin");
    admin(&table, &["create-table"]).await.unwrap();
    let err = admin(
        &table,
        &[
            "import",
            "--conversations",
            &conversations.display().to_string(),
            "--messages",
            &messages.display().to_string(),
        ],
    )
    .await
    .unwrap_err();
    let text = format!("{err:#}");
    let place = format!("{tag}-messages.jsonl:2: message 2 of conversation 1 would be a DynamoDB item of ");
    assert!(text.contains(&place), "{text}");
    assert!(text.contains("over DynamoDB's limit of 409600 bytes"), "{text}");
    assert!(all_items(&store_for(&table).await).await.is_empty());
}

/// Makes `table` what an import before the tally left: conversation items without the
/// `counted` flag, no tally shard (what the older code wrote; this code cannot write it).
async fn as_written_before_the_tally(store: &Store) {
    for it in all_items(store).await {
        let pk = it["pk"].as_s().unwrap().clone();
        let sk = it["sk"].as_s().unwrap().clone();
        let key = shared::item::key(pk.clone(), sk.clone());
        if pk == shared::table::TALLY_PK {
            store
                .client()
                .delete_item()
                .table_name(store.table_name())
                .set_key(Some(key))
                .send()
                .await
                .unwrap();
        } else if sk == shared::table::META_SK {
            store
                .client()
                .update_item()
                .table_name(store.table_name())
                .set_key(Some(key))
                .update_expression("REMOVE #counted, #known, #waiting, #since, #from, #stats")
                .expression_attribute_names("#stats", shared::table::STATS_SHARE)
                .expression_attribute_names("#counted", shared::table::COUNTED)
                .expression_attribute_names("#known", shared::table::WAITING_KNOWN)
                .expression_attribute_names("#waiting", shared::table::WAITING)
                .expression_attribute_names("#since", shared::table::WAITING_SINCE)
                .expression_attribute_names("#from", shared::table::WAITING_FROM)
                .send()
                .await
                .unwrap();
        }
    }
}

/// The counts of the conversation items themselves.
async fn counts_of_items(store: &Store) -> shared::model::Tally {
    let mut counts = shared::model::Tally::default();
    for it in all_items(store).await {
        if it["sk"].as_s().unwrap() == shared::table::META_SK {
            let c = shared::item::conversation_from_item(it).unwrap();
            *counts.of(c.status) += 1;
            counts.messages += c.message_count as i64;
        }
    }
    counts
}

/// `convo-admin backfill` on a table an older import filled: resumed after a run stopped
/// half-way, the counts come out exact while a live writer appends to and moves the same
/// conversations; a second run finds nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backfill_counts_an_older_tables_conversations_once_beside_live_writes() {
    let table = unique_table_name("backfill");
    admin(&table, &["create-table"]).await.unwrap();
    import_fixture(&table, "messages.jsonl").await.unwrap();
    let store = store_for(&table).await;
    as_written_before_the_tally(&store).await;
    assert_eq!(store.tally().await.unwrap().0, shared::model::Tally::default());
    // A run stopped after its first conversation: the next one goes on with the rest.
    let writer = writer::Writer::of(&store);
    let (page, _) = writer.uncounted_page(None).await.unwrap();
    assert_eq!(page.len(), 4);
    assert_eq!(
        writer.count_conversation(page[0]).await.unwrap(),
        writer::tally::Backfilled::Counted
    );
    assert_eq!(
        writer.count_conversation(page[0]).await.unwrap(),
        writer::tally::Backfilled::AlreadyCounted
    );
    assert_eq!(store.tally().await.unwrap().0.total(), 1);
    // The same for the waiting states.
    let (page, _) = writer.unsettled_page(None).await.unwrap();
    assert_eq!(page.len(), 4);
    assert!(matches!(
        writer.settle_waiting(page[0]).await.unwrap(),
        writer::waiting::Settled::Now(_)
    ));
    assert_eq!(
        writer.settle_waiting(page[0]).await.unwrap(),
        writer::waiting::Settled::AlreadyKnown
    );
    assert!(integration_tests::queue_of(&store, 100).await.len() <= 1);

    let writes = {
        let store = store.clone();
        tokio::spawn(async move {
            for k in 0..12u64 {
                // The fixture's conversations.
                let id = [1, 2, 7, 9][(k % 4) as usize];
                if k % 3 == 2 {
                    store.set_status(id, Status::ALL[(k % 3) as usize]).await.unwrap();
                } else {
                    store
                        .append_message(
                            id,
                            integration_tests::live_writes::NewMessage::text(
                                SenderType::Customer,
                                format!("live {k}"),
                            ),
                        )
                        .await
                        .unwrap();
                }
            }
        })
    };
    admin(&table, &["backfill"]).await.unwrap();
    writes.await.unwrap();
    let expected = counts_of_items(&store).await;
    assert_eq!(expected.total(), 4);
    assert_eq!(expected.messages, 9 + 8);
    assert_eq!(store.tally().await.unwrap().0, expected);
    // Every conversation is in the daily statistics, with what its messages make.
    assert_eq!(integration_tests::check_stats(&store).await, 0);

    // Nothing left to count: a second run changes nothing.
    admin(&table, &["backfill"]).await.unwrap();
    assert_eq!(store.tally().await.unwrap().0, expected);
    let uncounted = all_items(&store)
        .await
        .into_iter()
        .filter(|it| it["sk"].as_s().unwrap() == shared::table::META_SK)
        .filter(|it| {
            !it.contains_key(shared::table::COUNTED) || !it.contains_key(shared::table::WAITING_KNOWN)
        })
        .count();
    assert_eq!(uncounted, 0);
    // Every conversation's waiting state is what its messages say, and the queue lists the
    // waiting ones.
    let mut expected = Vec::new();
    for id in [1, 2, 7, 9] {
        let c = store.get_conversation(id).await.unwrap().unwrap();
        let messages = store.message_page(id, 0, 100).await.unwrap().messages;
        assert_eq!(
            c.waiting,
            shared::model::Waiting::of(&messages),
            "conversation {id}"
        );
        if let Some(since) = c.waiting.since() {
            expected.push((since, id));
        }
    }
    expected.sort();
    assert!(!expected.is_empty());
    assert_eq!(integration_tests::queue_of(&store, 100).await, expected);
}

/// A conversation item an older version wrote at DynamoDB's 400 KB limit has no room for a
/// waiting state: the backfill leaves it unknown, says so, and goes on with the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backfill_leaves_an_item_at_the_size_limit_unknown_and_goes_on() {
    let store = integration_tests::fresh_store().await;
    let writer = writer::Writer::of(&store);
    let mut c = integration_tests::fixtures::conversation(5, Status::Active, 10);
    c.message_count = 1;
    c.messages_changed = Some(jiff::Timestamp::from_second(10).unwrap());
    c.waiting = shared::model::Waiting::Unknown;
    let mut newest = integration_tests::fixtures::message(50, 5, 0, 10);
    newest.sender_type = SenderType::Customer;
    // The item as an older version wrote it, a few bytes under the limit.
    let written = jiff::Timestamp::from_second(10).unwrap();
    newest.message_text = String::new();
    c.last_message = Some(newest.summary());
    let base = shared::item::size(&shared::item::conversation_to_item(&c, written));
    newest.message_text = "x".repeat(writer::MAX_ITEM_BYTES - 40 - base);
    c.last_message = Some(newest.summary());
    let mut item = shared::item::conversation_to_item(&c, written);
    assert_eq!(shared::item::size(&item), writer::MAX_ITEM_BYTES - 40);
    item.remove(shared::table::COUNTED);
    store
        .client()
        .put_item()
        .table_name(store.table_name())
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    store
        .client()
        .put_item()
        .table_name(store.table_name())
        .set_item(Some(shared::item::message_to_item(&newest)))
        .send()
        .await
        .unwrap();
    let (page, _) = writer.unsettled_page(None).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(
        writer.settle_waiting(page[0]).await.unwrap(),
        writer::waiting::Settled::TooLarge
    );
    let report = convo_admin::backfill::run(&writer).await.unwrap();
    assert_eq!((report.counted, report.too_large), (1, 1), "{report}");
    assert!(
        report
            .to_string()
            .contains("1 conversations left out of the needs-reply queue")
    );
}
