//! `GET /api/stats` against DynamoDB Local: every writer (live appends, a change with a
//! late message that moves newer ones up, an import of a conversation with messages in more
//! hours than one transaction holds, the backfill) keeps the hour items equal to what the
//! conversations' messages make, and the route sums them into the zone's days in one Query.

use integration_tests::apigw::Target;
use integration_tests::live_writes::{LiveWrites, NewConversation, NewMessage};
use integration_tests::{check_stats, fresh_store};
use jiff::{SignedDuration, Timestamp};
use shared::Store;
use shared::http::App;
use shared::model::{Conversation, Message, SenderType};
use shared::stats::{self, StatsShare};
use writer::{Change, ChangeOutcome, Record, Writer};

fn app(store: &Store, zone: &str) -> App {
    let table = store.table_name().to_string();
    let config = shared::config::Config::from_lookup(|k| match k {
        "TABLE_NAME" => Some(table.clone()),
        "APP_TIMEZONE" => Some(zone.to_string()),
        _ => None,
    })
    .unwrap();
    App {
        store: store.clone(),
        config,
    }
}

/// What `/api/stats` must say of conversations whose messages were sent at `times`, in
/// `zone`, at `now`.
fn daily(times: &[Vec<Timestamp>], zone: &str, now: Timestamp) -> stats::Daily {
    let mut hours = Vec::new();
    for conversation in times {
        let share = StatsShare::of(conversation.iter().copied(), now);
        hours.extend(stats::change(&StatsShare::default(), &share, now));
    }
    let zone = jiff::tz::TimeZone::get(zone).unwrap();
    stats::daily(&hours, &stats::day_starts(now, &zone))
}

async fn append_at(store: &Store, id: u64, at: Timestamp, sender: SenderType) -> Message {
    store
        .append_message(
            id,
            NewMessage {
                created_at: Some(at),
                ..NewMessage::text(sender, "hola")
            },
        )
        .await
        .unwrap()
}

/// The API's answer equals what the messages make, in either of the days around the call
/// (a day may end during it).
async fn assert_api(app: &App, times: &[Vec<Timestamp>], zone: &str) {
    let before = daily(times, zone, Timestamp::now());
    let got = Target::InProcess(app).get("/api/stats").await;
    let after = daily(times, zone, Timestamp::now());
    assert_eq!(got.status, 200, "{}", got.body);
    let stats = &got.body["stats"];
    let total: usize = times.iter().map(Vec::len).sum();
    assert_eq!(
        stats["conversations"]["total_messages"], total as u64,
        "{}",
        got.body
    );
    assert_eq!(
        stats["conversations"]["total"],
        times.len() as u64,
        "{}",
        got.body
    );
    let matches = |d: &stats::Daily| {
        stats["daily_messages"] == serde_json::json!(d.messages)
            && stats["conversations"]["today"] == d.conversations_today
    };
    assert!(
        matches(&before) || matches(&after),
        "{} against {before:?}",
        got.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_writer_keeps_the_days_exact_in_any_zone() {
    let store = fresh_store().await;
    let now = Timestamp::now();
    let ago = |hours: i64, minutes: i64| {
        now - SignedDuration::from_hours(hours) - SignedDuration::from_mins(minutes)
    };
    let mut times: Vec<Vec<Timestamp>> = Vec::new();
    // Live appends: one conversation across the week, one with messages older than it.
    for (k, sent) in [
        vec![ago(6 * 24 + 3, 0), ago(3 * 24, 10), ago(2, 0), ago(0, 20)],
        vec![ago(9 * 24, 0), ago(8 * 24 + 5, 0), ago(24, 45)],
        vec![ago(10 * 24, 0)],
    ]
    .into_iter()
    .enumerate()
    {
        let c = store
            .create_conversation(NewConversation::active(format!("57300000{k:04}")))
            .await
            .unwrap();
        for t in &sent {
            append_at(&store, c.id, *t, SenderType::Customer).await;
        }
        times.push(sent);
    }
    assert_eq!(check_stats(&store).await, 0);

    // A change as the sync writes it: a message older than the newest two moves them up.
    let writer = Writer::of(&store);
    let c = store
        .create_conversation(NewConversation::active("573000009999"))
        .await
        .unwrap();
    let a = append_at(&store, c.id, ago(5, 0), SenderType::Customer).await;
    let b = append_at(&store, c.id, ago(1, 0), SenderType::Ai).await;
    let b2 = append_at(&store, c.id, ago(0, 30), SenderType::Customer).await;
    let current = store.get_conversation(c.id).await.unwrap().unwrap();
    let late = Message {
        id: b2.id + 1,
        position: 1,
        created_at: ago(3, 0),
        ..a.clone()
    };
    let moved = |m: &Message, position| Message {
        position,
        ..m.clone()
    };
    let change = Change {
        conversation: Conversation {
            message_count: 4,
            ..current.clone()
        },
        expected_count: Some(3),
        messages: vec![late.clone(), moved(&b, 2), moved(&b2, 3)],
        waiting_before: current.waiting,
        replaced: vec![b.created_at, b2.created_at],
    };
    assert!(matches!(
        writer.apply_change(&change).await.unwrap(),
        ChangeOutcome::Applied(_)
    ));
    times.push(vec![a.created_at, late.created_at, b.created_at, b2.created_at]);
    assert_eq!(check_stats(&store).await, 0);

    for zone in ["UTC", "America/Bogota", "Asia/Kathmandu", "Pacific/Kiritimati"] {
        assert_api(&app(&store, zone), &times, zone).await;
    }
    // It takes no parameters: whatever the query string, the same answer.
    let utc = app(&store, "UTC");
    let plain = Target::InProcess(&utc).get("/api/stats").await;
    let long = "9".repeat(50_000);
    for query in ["days=30", "x=%00%ff&&=", &format!("days={long}")] {
        let odd = Target::InProcess(&utc).get(&format!("/api/stats?{query}")).await;
        assert_eq!(
            (odd.status, &odd.body),
            (200, &plain.body),
            "{}",
            &query[..query.len().min(40)]
        );
    }
    // One Query of the tally's partition: the shards and at most the hour items of the
    // last 7 days (one more for a zone's partial first hour, one for a day of 25 hours).
    let zone = jiff::tz::TimeZone::get("Asia/Kathmandu").unwrap();
    let starts = stats::day_starts(Timestamp::now(), &zone);
    let ((_, hours), cost) = store.stats(starts[0].div_euclid(3600) * 3600).await.unwrap();
    assert_eq!(cost.round_trips, 1);
    assert!(hours.len() <= 7 * 24 + 2);
    assert!(
        cost.items_read as usize <= 7 * 24 + 2 + shared::table::TALLY_SHARDS as usize,
        "{cost:?}"
    );
}

/// A conversation with messages in each of the last 150 hours: more hour items than one
/// transaction holds. The import adds its share in parts; the backfill too, for one an
/// older version wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_of_many_hours_is_added_in_parts() {
    let store = fresh_store().await;
    let writer = Writer::of(&store);
    let now = Timestamp::now();
    let messages: Vec<Message> = (0..150u64)
        .map(|k| {
            let mut m = integration_tests::fixtures::message(k + 1, 3, k, 0);
            m.created_at = now - SignedDuration::from_hours(149 - k as i64);
            m
        })
        .collect();
    let mut c = integration_tests::fixtures::conversation(3, shared::Status::Active, 0);
    c.message_count = 150;
    c.last_message = messages.last().map(Message::summary);
    c.stats = Some(StatsShare::of(messages.iter().map(|m| m.created_at), now));
    let records: Vec<Record> = messages
        .iter()
        .cloned()
        .map(Record::Message)
        .chain([Record::Conversation(c.clone())])
        .collect();
    writer.put_records(&records).await.unwrap();
    assert_eq!(check_stats(&store).await, 0);
    let times = vec![messages.iter().map(|m| m.created_at).collect::<Vec<_>>()];
    assert_api(&app(&store, "America/Bogota"), &times, "America/Bogota").await;

    // As an older version wrote it: the backfill adds it, in two parts.
    as_written_before_the_stats(&store).await;
    assert_eq!(check_stats(&store).await, 1);
    let report = convo_admin::backfill::run(&writer).await.unwrap();
    assert_eq!(
        (report.stats_counted, report.stats_transactions),
        (1, 2),
        "{report}"
    );
    assert_eq!(check_stats(&store).await, 0);

    as_written_before_the_stats(&store).await;
    assert_eq!(check_stats(&store).await, 1);
    // A backfill stopped after its first part: the item records what it added, partial.
    let partial = StatsShare::default().toward(c.stats.as_ref().unwrap(), 99, now);
    assert!(partial.partial);
    let mut items = writer::stats::updates(store.table_name(), None, Some(&partial), now).unwrap();
    items.push(
        aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .update(
                aws_sdk_dynamodb::types::Update::builder()
                    .table_name(store.table_name())
                    .set_key(Some(shared::item::key(
                        shared::table::conversation_pk(3),
                        shared::table::META_SK,
                    )))
                    .update_expression("SET #stats = :stats")
                    .expression_attribute_names("#stats", shared::table::STATS_SHARE)
                    .expression_attribute_values(":stats", shared::item::s(partial.encode()))
                    .build()
                    .unwrap(),
            )
            .build(),
    );
    assert!(matches!(
        writer.transact(items).await.unwrap(),
        writer::TxOutcome::Done
    ));
    assert_eq!(check_stats(&store).await, 1);
    let (page, _) = writer.stats_pending_page(None).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].share.as_ref(), Some(&partial));
    let report = convo_admin::backfill::run(&writer).await.unwrap();
    assert_eq!(
        (report.stats_counted, report.stats_transactions),
        (1, 1),
        "{report}"
    );
    assert_eq!(check_stats(&store).await, 0);
    let again = convo_admin::backfill::run(&writer).await.unwrap();
    assert_eq!(again.stats_counted, 0, "{again}");
    assert_api(&app(&store, "UTC"), &times, "UTC").await;
}

/// No statistics share on conversation 3, and no hour items: as an older version left it.
async fn as_written_before_the_stats(store: &Store) {
    store
        .client()
        .update_item()
        .table_name(store.table_name())
        .set_key(Some(shared::item::key(
            shared::table::conversation_pk(3),
            shared::table::META_SK,
        )))
        .update_expression("REMOVE #stats")
        .expression_attribute_names("#stats", shared::table::STATS_SHARE)
        .send()
        .await
        .unwrap();
    for it in integration_tests::all_items(store).await {
        if it["sk"]
            .as_s()
            .unwrap()
            .starts_with(shared::table::STATS_HOUR_PREFIX)
        {
            store
                .client()
                .delete_item()
                .table_name(store.table_name())
                .set_key(Some(shared::item::key(
                    shared::table::TALLY_PK.into(),
                    it["sk"].as_s().unwrap().clone(),
                )))
                .send()
                .await
                .unwrap();
        }
    }
}

/// A late message under 119 newer ones: the newer ones are written on their own before the
/// change's transaction, so the change does not follow the statistics step by step. It
/// marks the share partial first and makes it whole from the messages at the end; and a
/// change stopped half-way through that write leaves it partial, for the next change of
/// the conversation to make whole first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_message_under_many_keeps_the_statistics_exact_even_stopped_half_way() {
    let store = fresh_store().await;
    let writer = Writer::of(&store);
    let now = Timestamp::now();
    let c = store
        .create_conversation(NewConversation::active("573000007777"))
        .await
        .unwrap();
    let mut sent = Vec::new();
    for k in 0..120i64 {
        let at = now - SignedDuration::from_mins(4 * (120 - k));
        sent.push(append_at(&store, c.id, at, SenderType::Customer).await);
    }
    let source_of = |late: &[Message]| {
        let mut all: Vec<Message> = sent.iter().chain(late).cloned().collect();
        all.sort_by_key(Message::chronological_key);
        all
    };
    // The change as the sync plans it, from the table's tail and the source's messages.
    let plan = |desired: Vec<Message>| {
        let store = store.clone();
        async move {
            let current = store.get_conversation(c.id).await.unwrap().unwrap();
            let tail = Writer::of(&store)
                .message_tail(c.id, current.message_count, |_| true)
                .await
                .unwrap();
            let source = Conversation {
                message_count: 0,
                ..current.clone()
            };
            convo_admin::reconcile::change(&source, Some(&current), &tail, desired)
                .unwrap()
                .unwrap()
        }
    };
    let late = |id: u64, minutes: i64| Message {
        id,
        created_at: now - SignedDuration::from_mins(minutes),
        ..sent[0].clone()
    };

    // Whole: one late message two minutes after the first.
    let first_late = late(10_000, 4 * 120 - 2);
    let change = plan(source_of(std::slice::from_ref(&first_late))).await;
    assert_eq!(change.moved(), 119);
    assert!(matches!(
        writer.apply_change(&change).await.unwrap(),
        ChangeOutcome::Applied(_)
    ));
    assert_eq!(check_stats(&store).await, 0);

    // Stopped half-way: marked partial, then 50 of the 120 moved messages written.
    let second_late = late(10_001, 4 * 120 - 3);
    let both = source_of(&[first_late.clone(), second_late.clone()]);
    let change = plan(both.clone()).await;
    let current = store.get_conversation(c.id).await.unwrap().unwrap();
    let marked = StatsShare {
        partial: true,
        ..current.stats.clone().unwrap()
    };
    store
        .client()
        .update_item()
        .table_name(store.table_name())
        .set_key(Some(shared::item::key(
            shared::table::conversation_pk(c.id),
            shared::table::META_SK,
        )))
        .update_expression("SET #stats = :stats")
        .expression_attribute_names("#stats", shared::table::STATS_SHARE)
        .expression_attribute_values(":stats", shared::item::s(marked.encode()))
        .send()
        .await
        .unwrap();
    let half: Vec<Record> = change.messages[..50]
        .iter()
        .cloned()
        .map(Record::Message)
        .collect();
    writer.put_records(&half).await.unwrap();
    assert_eq!(check_stats(&store).await, 1);
    // The next change, planned from the table as the stop left it, makes it whole first.
    let change = plan(both).await;
    assert!(matches!(
        writer.apply_change(&change).await.unwrap(),
        ChangeOutcome::Applied(_)
    ));
    assert_eq!(check_stats(&store).await, 0);
    let times = vec![
        source_of(&[first_late, second_late])
            .iter()
            .map(|m| m.created_at)
            .collect(),
    ];
    assert_api(&app(&store, "UTC"), &times, "UTC").await;
}
