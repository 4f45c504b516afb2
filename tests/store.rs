//! Every Store operation against a real DynamoDB API (DynamoDB Local), with what each read costs
//! asserted from DynamoDB's own answers.

use integration_tests::fixtures::{at, conversation, message};
use integration_tests::live_writes::LiveWrites;
use integration_tests::live_writes::{NewConversation, NewMessage};
use integration_tests::{fresh_store, inbox_ids};
use jiff::Timestamp;
use shared::cursor::BeforeCursor;
use shared::model::{Conversation, InboxEntry, Message, SenderType, Status};
use shared::store::ListQuery;
use shared::store::ReadError;
use shared::{Store, StoreError};
use writer::Record;

/// A conversation with `n` messages (ids 1..=n, one second apart), written as an import does.
async fn conversation_with_messages(store: &Store, id: u64, n: u64) -> Conversation {
    let messages: Vec<Message> = (0..n).map(|p| message(p + 1, id, p, p as i64)).collect();
    let mut c = conversation(id, Status::Active, n as i64);
    c.message_count = n;
    c.last_message = messages.last().map(Message::summary);
    let mut records: Vec<Record> = messages.into_iter().map(Record::Message).collect();
    records.push(Record::Conversation(c.clone()));
    for chunk in records.chunks(500) {
        writer::Writer::of(store).put_records(chunk).await.unwrap();
    }
    c
}

fn ids(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_pages_read_at_most_limit_plus_one_items_at_any_offset() {
    let store = fresh_store().await;
    conversation_with_messages(&store, 1, 2_500).await;
    // Newest first numbering: offset o holds message ids 2500-o-limit+1 ..= 2500-o.
    for (offset, round_trips) in [(0u64, 1u32), (20, 2), (1_240, 2), (2_480, 2), (2_490, 2)] {
        let page = store.message_page(1, offset, 20).await.unwrap();
        let newest = 2_500 - offset;
        let oldest = newest.saturating_sub(19).max(1);
        assert_eq!(
            ids(&page.messages),
            (oldest..=newest).collect::<Vec<_>>(),
            "offset {offset}"
        );
        assert_eq!(page.total, 2_500);
        assert_eq!(page.has_more, offset + 20 < 2_500);
        assert!(
            page.cost.items_read <= 21,
            "offset {offset}: read {} items",
            page.cost.items_read
        );
        assert_eq!(page.cost.round_trips, round_trips, "offset {offset}");
    }
    // At or past the end: empty, and only the conversation is read.
    let page = store.message_page(1, 2_500, 20).await.unwrap();
    assert!(page.messages.is_empty() && !page.has_more && page.before.is_none());
    assert_eq!(page.cost.items_read, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_pages_walk_back_to_the_first_message_exactly_once_in_one_round_trip_each() {
    let store = fresh_store().await;
    conversation_with_messages(&store, 3, 95).await;
    let first = store.message_page(3, 0, 20).await.unwrap();
    let mut seen = ids(&first.messages);
    let mut cursor = first.before;
    // A message arriving meanwhile does not shift the older pages.
    store
        .append_message(3, NewMessage::text(SenderType::Customer, "late"))
        .await
        .unwrap();
    let mut pages = 1;
    while let Some(c) = cursor {
        let page = store.messages_before(3, c, 20).await.unwrap();
        // A GetItem and a Query sent together: two requests, one round trip of latency,
        // and the read units of a query (item sizes added up), not of 21 rounded-up gets.
        assert_eq!(page.cost.round_trips, 2);
        assert_eq!(page.cost.sequential_trips, 1);
        assert!(page.cost.items_read <= 21);
        assert!(
            page.cost.capacity_units > 0.0 && page.cost.capacity_units <= 2.0,
            "{} RCU",
            page.cost.capacity_units
        );
        assert_eq!(page.total, 96);
        assert_eq!(page.has_more, page.before.is_some());
        let mut older = ids(&page.messages);
        older.extend(seen);
        seen = older;
        cursor = page.before;
        pages += 1;
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, (1..=95).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_conversation_is_not_found_on_every_read() {
    let store = fresh_store().await;
    conversation_with_messages(&store, 1, 3).await;
    assert!(matches!(
        store.message_page(2, 0, 20).await,
        Err(ReadError {
            error: StoreError::ConversationNotFound(2),
            cost,
        }) if cost.round_trips >= 1
    ));
    assert!(matches!(
        store.message_page(2, 5, 20).await,
        Err(ReadError {
            error: StoreError::ConversationNotFound(2),
            cost,
        }) if cost.round_trips >= 1
    ));
    assert!(matches!(
        store.messages_before(2, BeforeCursor { position: 2 }, 20).await,
        Err(ReadError {
            error: StoreError::ConversationNotFound(2),
            cost,
        }) if cost.round_trips >= 1
    ));
    assert!(store.get_conversation(2).await.unwrap().is_none());
    assert_eq!(store.get_conversation(1).await.unwrap().unwrap().message_count, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_list_is_newest_first_ties_by_id_and_cursors_visit_each_once() {
    let store = fresh_store().await;
    // 50 conversations; several share a last_message_at.
    let mut records = Vec::new();
    for id in 1..=50u64 {
        let status = Status::ALL[(id % 3) as usize];
        records.push(Record::Conversation(conversation(id, status, (id / 4) as i64)));
    }
    writer::Writer::of(&store).put_records(&records).await.unwrap();
    for status in [
        None,
        Some(Status::Active),
        Some(Status::PendingHuman),
        Some(Status::Closed),
    ] {
        let mut expected: Vec<(Timestamp, u64)> = (1..=50u64)
            .filter(|id| status.is_none_or(|s| s == Status::ALL[(id % 3) as usize]))
            .map(|id| (at((id / 4) as i64), id))
            .collect();
        expected.sort_by(|a, b| b.cmp(a));
        let expected: Vec<u64> = expected.into_iter().map(|(_, id)| id).collect();
        for limit in [1u32, 7, 16, 100] {
            let got: Vec<u64> = every_page(&store, status, false, limit)
                .await
                .iter()
                .map(|c| c.id)
                .collect();
            assert_eq!(got, expected, "status {status:?} limit {limit}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_keep_the_summary_count_and_list_order() {
    let store = fresh_store().await;
    let a = store
        .create_conversation(NewConversation {
            phone_number: "111".into(),
            contact_name: Some("A".into()),
            status: Status::Active,
            ai_enabled: true,
        })
        .await
        .unwrap();
    let b = store
        .create_conversation(NewConversation {
            phone_number: "222".into(),
            contact_name: None,
            status: Status::PendingHuman,
            ai_enabled: false,
        })
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    let empty = store.message_page(a.id, 0, 20).await.unwrap();
    assert!(empty.messages.is_empty() && empty.total == 0 && !empty.has_more);

    let mut ai = NewMessage::text(SenderType::Ai, "respuesta");
    ai.context_used = Some("FAQ".into());
    ai.confidence_score = Some(0.87);
    ai.created_at = Some(Timestamp::now() + jiff::SignedDuration::from_secs(60));
    store
        .append_message(a.id, NewMessage::text(SenderType::Customer, "hola"))
        .await
        .unwrap();
    let m2 = store.append_message(a.id, ai).await.unwrap();
    // An append with an older time than the newest message is raised to it: positions
    // always follow the chronological order.
    let mut old = NewMessage::text(SenderType::Human, "tarde");
    old.created_at = Some(Timestamp::from_second(1_000).unwrap());
    let m3 = store.append_message(a.id, old).await.unwrap();
    assert_eq!(m3.created_at, m2.created_at);
    assert!(m3.id > m2.id);

    let c = store.get_conversation(a.id).await.unwrap().unwrap();
    assert_eq!(c.message_count, 3);
    let last = c.last_message.unwrap();
    assert_eq!(
        (last.id, last.text.as_str(), last.sender_type),
        (m3.id, "tarde", SenderType::Human)
    );
    assert_eq!(c.last_message_at, m3.created_at);

    let page = store.message_page(a.id, 0, 20).await.unwrap();
    assert_eq!(
        page.messages
            .iter()
            .map(|m| m.message_text.as_str())
            .collect::<Vec<_>>(),
        ["hola", "respuesta", "tarde"]
    );
    assert_eq!(page.messages[1].confidence_score, Some(0.87));
    assert_eq!(page.messages[1].context_used.as_deref(), Some("FAQ"));

    // `a` now has the newest activity.
    assert_eq!(inbox_ids(&store, None, 10).await, [a.id, b.id]);
    assert!(matches!(
        store
            .append_message(999, NewMessage::text(SenderType::Customer, "x"))
            .await,
        Err(StoreError::ConversationNotFound(999))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_number_belongs_to_one_conversation() {
    let store = fresh_store().await;
    let new = NewConversation::active("573001234567");
    let first = store.create_conversation(new.clone()).await.unwrap();
    match store.create_conversation(new).await {
        Err(StoreError::PhoneTaken(phone, owner)) => {
            assert_eq!((phone.as_str(), owner), ("573001234567", first.id));
        }
        other => panic!("expected PhoneTaken, got {other:?}"),
    }
    let list = store
        .list_conversations(ListQuery {
            waiting: false,
            status: None,
            limit: 10,
            after: None,
        })
        .await
        .unwrap();
    assert_eq!(list.conversations.len(), 1);
}

/// `?phone=`: the number's claim, then its conversation; two items and two round trips at
/// most, one item for an unknown number; a number that moved to another conversation is
/// found there and no longer where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_is_found_by_its_phone_number_in_two_reads_at_most() {
    let store = fresh_store().await;
    let ana = store
        .create_conversation(NewConversation::active("573001234567"))
        .await
        .unwrap();
    store
        .create_conversation(NewConversation::active("14155550123"))
        .await
        .unwrap();
    let (found, cost) = store.conversation_by_phone("573001234567").await.unwrap();
    let found = found.expect("the conversation of 573001234567");
    assert_eq!((found.id, found.phone_number.as_str()), (ana.id, "573001234567"));
    assert_eq!(found, shared::model::InboxEntry::from(&ana));
    assert_eq!(
        (cost.items_read, cost.round_trips, cost.sequential_trips),
        (2, 2, 2)
    );
    assert!(cost.capacity_units <= 1.0, "{cost:?}");

    let (none, cost) = store.conversation_by_phone("573001234568").await.unwrap();
    assert!(none.is_none());
    assert_eq!((cost.items_read, cost.round_trips), (0, 1));

    // The number moves to Ana's conversation under a new number: the old one finds nothing.
    let renumbered = Conversation {
        phone_number: "573009999999".into(),
        ..ana.clone()
    };
    let replaced = writer::Writer::of(&store)
        .replace_conversation(renumbered, Vec::new())
        .await
        .unwrap();
    assert!(
        matches!(replaced, writer::ReplaceOutcome::Replaced(_)),
        "{replaced:?}"
    );
    assert!(
        store
            .conversation_by_phone("573001234567")
            .await
            .unwrap()
            .0
            .is_none()
    );
    let (moved, _) = store.conversation_by_phone("573009999999").await.unwrap();
    assert_eq!(moved.map(|c| c.id), Some(ana.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_timestamps_order_by_id() {
    let store = fresh_store().await;
    // Three messages in the same second, written out of id order.
    let msgs = vec![message(30, 1, 0, 5), message(31, 1, 1, 5), message(32, 1, 2, 5)];
    let mut c = conversation(1, Status::Closed, 5);
    c.message_count = 3;
    c.last_message = Some(msgs[2].summary());
    let mut records: Vec<Record> = msgs.into_iter().map(Record::Message).collect();
    records.push(Record::Conversation(c));
    // Two more conversations with the same last_message_at as conversation 1.
    records.push(Record::Conversation(conversation(2, Status::Closed, 5)));
    records.push(Record::Conversation(conversation(3, Status::Active, 5)));
    writer::Writer::of(&store).put_records(&records).await.unwrap();
    let page = store.message_page(1, 0, 2).await.unwrap();
    assert_eq!(ids(&page.messages), [31, 32]);
    let rest = store.messages_before(1, page.before.unwrap(), 2).await.unwrap();
    assert_eq!(ids(&rest.messages), [30]);
    assert_eq!(inbox_ids(&store, None, 10).await, [3, 2, 1]);
    assert_eq!(inbox_ids(&store, Some(Status::Closed), 10).await, [2, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_ai_flag_changes_move_the_conversation_between_lists() {
    let store = fresh_store().await;
    let c = store
        .create_conversation(NewConversation {
            phone_number: "999".into(),
            contact_name: Some(String::new()),
            status: Status::Active,
            ai_enabled: true,
        })
        .await
        .unwrap();
    store.set_status(c.id, Status::PendingHuman).await.unwrap();
    store.set_ai_enabled(c.id, false).await.unwrap();
    let count = |status| {
        let store = store.clone();
        async move {
            store
                .list_conversations(ListQuery {
                    waiting: false,
                    status: Some(status),
                    limit: 10,
                    after: None,
                })
                .await
                .unwrap()
                .conversations
        }
    };
    assert!(count(Status::Active).await.is_empty());
    let pending = count(Status::PendingHuman).await;
    assert_eq!(pending.len(), 1);
    assert!(!pending[0].ai_enabled);
    assert_eq!(pending[0].contact_name.as_deref(), Some(""));
    assert!(matches!(
        store.set_status(424242, Status::Closed).await,
        Err(StoreError::ConversationNotFound(424242))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_ids_come_after_imported_ones() {
    let store = fresh_store().await;
    conversation_with_messages(&store, 500, 3).await;
    writer::Writer::of(&store)
        .raise_id_counters(500, 9_000)
        .await
        .unwrap();
    // Raising to a lower value never lowers a counter.
    writer::Writer::of(&store).raise_id_counters(1, 1).await.unwrap();
    let c = store
        .create_conversation(NewConversation::active("new"))
        .await
        .unwrap();
    assert_eq!(c.id, 501);
    let m = store
        .append_message(500, NewMessage::text(SenderType::Customer, "after import"))
        .await
        .unwrap();
    assert_eq!((m.id, m.position), (9_001, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_table_accepts_the_same_table_and_reports_a_different_one() {
    let store = fresh_store().await;
    assert_eq!(
        writer::Writer::of(&store).ensure_table().await.unwrap(),
        writer::TableCheck::AlreadyExists
    );
    // A table of the same name with another design.
    let config = integration_tests::sdk_config().await;
    let client = shared::client::dynamodb_client(&config);
    let name = integration_tests::unique_table_name("other");
    use aws_sdk_dynamodb::types::*;
    client
        .create_table()
        .table_name(&name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let other = Store::new(client, &name);
    match writer::Writer::of(&other).ensure_table().await {
        Err(writer::EnsureTableError::Mismatch(m)) => {
            let text = m.to_string();
            assert!(text.contains("missing:    key pk HASH"), "{text}");
            assert!(text.contains("unexpected: key id HASH"), "{text}");
            assert!(text.contains("missing:    index by_status"), "{text}");
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_over_dynamodbs_item_limit_is_refused_and_changes_nothing() {
    let store = fresh_store().await;
    let c = store
        .create_conversation(NewConversation::active("573001234567"))
        .await
        .unwrap();
    let mut big = NewMessage::text(SenderType::Ai, "r".repeat(250 * 1024));
    big.context_used = Some("c".repeat(200 * 1024));
    let err = store.append_message(c.id, big).await.unwrap_err();
    assert!(
        matches!(err, StoreError::ItemTooLarge { size, limit: 409_600, .. } if size > 450 * 1024),
        "{err}"
    );
    assert!(err.to_string().contains("message"), "{err}");
    let after = store.get_conversation(c.id).await.unwrap().unwrap();
    assert_eq!(after.message_count, 0);
    // A message of 64 KB of text and 64 KB of context, the legacy TEXT maximum, fits.
    let mut legacy_max = NewMessage::text(SenderType::Ai, "r".repeat(65_535));
    legacy_max.context_used = Some("c".repeat(65_535));
    store.append_message(c.id, legacy_max).await.unwrap();
}

/// Every page of the inbox (or the needs-reply queue), following cursors; each page read
/// at most `limit + 1` items in one round trip, and every page but the last is full.
async fn every_page(store: &Store, status: Option<Status>, waiting: bool, limit: u32) -> Vec<InboxEntry> {
    let mut got = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_conversations(ListQuery {
                status,
                waiting,
                limit,
                after,
            })
            .await
            .unwrap();
        assert!(page.cost.items_read <= limit + 1, "read {}", page.cost.items_read);
        assert_eq!(page.cost.round_trips, 1);
        if page.next.is_some() {
            assert_eq!(page.conversations.len(), limit as usize);
        }
        got.extend(page.conversations);
        after = page.next;
        if after.is_none() {
            return got;
        }
    }
}

/// The needs-reply queue, every page: (id, waiting_since).
async fn queue(store: &Store, status: Option<Status>, limit: u32) -> Vec<(u64, Timestamp)> {
    every_page(store, status, true, limit)
        .await
        .iter()
        .map(|c| (c.id, c.waiting_since.expect("waiting_since in the queue")))
        .collect()
}

/// `?waiting=customer`: conversations whose newest message is the customer's, longest
/// waiting first (ties by id), since the first customer message after the last answer; an
/// answer takes a conversation out in the same write; combined with a status; only
/// waiting conversations are in the index (an empty queue reads nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_needs_reply_queue_is_longest_waiting_first_and_an_answer_takes_a_conversation_out() {
    let store = fresh_store().await;
    let t = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
    let say = |sender, secs| {
        let mut m = NewMessage::text(sender, "texto");
        m.created_at = Some(t(secs));
        m
    };
    let mut ids = Vec::new();
    for k in 0..7u64 {
        let c = store
            .create_conversation(NewConversation::active(format!("5730000000{k}")))
            .await
            .unwrap();
        ids.push(c.id);
    }
    assert!(queue(&store, None, 5).await.is_empty());
    // 0: customer, customer (waits since 10). 1: customer then AI (answered).
    // 2: AI, customer (waits since 30). 3: customer at 10 too (tie with 0: by id).
    // 4: customer, human, customer, customer (waits since 50). 5: no message. 6: human.
    for (k, sender, secs) in [
        (0, SenderType::Customer, 10),
        (0, SenderType::Customer, 40),
        (1, SenderType::Customer, 5),
        (1, SenderType::Ai, 6),
        (2, SenderType::Ai, 20),
        (2, SenderType::Customer, 30),
        (3, SenderType::Customer, 10),
        (4, SenderType::Customer, 1),
        (4, SenderType::Human, 2),
        (4, SenderType::Customer, 50),
        (4, SenderType::Customer, 60),
        (6, SenderType::Human, 3),
    ] {
        store.append_message(ids[k], say(sender, secs)).await.unwrap();
    }
    let expected = vec![(ids[0], t(10)), (ids[3], t(10)), (ids[2], t(30)), (ids[4], t(50))];
    for limit in [1, 2, 3, 10] {
        assert_eq!(queue(&store, None, limit).await, expected, "limit {limit}");
    }
    // With a status: only that status's waiting conversations.
    store.set_status(ids[2], Status::PendingHuman).await.unwrap();
    assert_eq!(
        queue(&store, Some(Status::PendingHuman), 1).await,
        vec![(ids[2], t(30))]
    );
    assert_eq!(
        queue(&store, Some(Status::Active), 2).await,
        vec![(ids[0], t(10)), (ids[3], t(10)), (ids[4], t(50))]
    );
    assert!(queue(&store, Some(Status::Closed), 2).await.is_empty());
    // An answer takes it out; the customer writing again puts it back, from then.
    store
        .append_message(ids[0], say(SenderType::Ai, 70))
        .await
        .unwrap();
    store
        .append_message(ids[4], say(SenderType::Human, 71))
        .await
        .unwrap();
    store
        .append_message(ids[1], say(SenderType::Customer, 80))
        .await
        .unwrap();
    assert_eq!(
        queue(&store, None, 2).await,
        vec![(ids[3], t(10)), (ids[2], t(30)), (ids[1], t(80))]
    );
    // The items agree with what their messages say.
    for id in &ids {
        let c = store.get_conversation(*id).await.unwrap().unwrap();
        let messages = store.message_page(*id, 0, 100).await.unwrap().messages;
        assert_eq!(
            c.waiting,
            shared::model::Waiting::of(&messages),
            "conversation {id}"
        );
    }
}

/// A change written in several transactions and stopped after its first: the conversation
/// as that step left it waits as its visible messages say, not as the whole change would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_stopped_between_its_steps_leaves_the_waiting_state_of_what_it_wrote() {
    use integration_tests::faults::{Fault, FaultyEndpoint};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let direct = fresh_store().await;
    let transactions = std::sync::Arc::new(AtomicUsize::new(0));
    let faulty = FaultyEndpoint::start_per_operation(&integration_tests::dynamodb().endpoint, {
        let transactions = std::sync::Arc::clone(&transactions);
        move |_, operation, _| {
            if operation == "TransactWriteItems" && transactions.fetch_add(1, Ordering::SeqCst) == 1 {
                Fault::Reject
            } else {
                Fault::Pass
            }
        }
    });
    let store = Store::new(
        shared::client::dynamodb_client(&integration_tests::sdk_config_for(&faulty.url).await),
        direct.table_name(),
    );
    // 150 customer messages, the newest an answer: not waiting once it is all written.
    let messages: Vec<Message> = (0..150u64)
        .map(|p| Message {
            sender_type: if p == 149 {
                SenderType::Ai
            } else {
                SenderType::Customer
            },
            ..message(p + 1, 9, p, p as i64)
        })
        .collect();
    let mut c = conversation(9, Status::Active, 149);
    c.message_count = 150;
    c.last_message = messages.last().map(Message::summary);
    c.waiting = shared::model::Waiting::of(&messages);
    assert_eq!(c.waiting, shared::model::Waiting::No);
    let change = writer::Change {
        conversation: c,
        expected_count: None,
        messages,
        waiting_before: shared::model::Waiting::No,
        replaced: Vec::new(),
    };
    // Unstopped, a new conversation of 150 small messages is written in two steps (the
    // first holds 97 messages, its conversation item, phone claim and tally shard: 100;
    // they are older than the statistics' window, so no hour item).
    let whole = writer::Change {
        conversation: Conversation {
            id: 10,
            phone_number: "573000000010".into(),
            ..change.conversation.clone()
        },
        messages: change
            .messages
            .iter()
            .map(|m| Message {
                conversation_id: 10,
                id: m.id + 1_000,
                ..m.clone()
            })
            .collect(),
        ..change.clone()
    };
    assert!(matches!(
        writer::Writer::of(&direct).apply_change(&whole).await.unwrap(),
        writer::ChangeOutcome::Applied(writer::ChangeCost { transactions: 2, .. })
    ));
    let written = direct.get_conversation(10).await.unwrap().unwrap();
    assert_eq!(
        (written.message_count, written.waiting),
        (150, shared::model::Waiting::No)
    );
    assert!(writer::Writer::of(&store).apply_change(&change).await.is_err());
    let stopped = direct.get_conversation(9).await.unwrap().unwrap();
    assert!(
        stopped.message_count > 0 && stopped.message_count < 150,
        "{}",
        stopped.message_count
    );
    assert_eq!(
        stopped.waiting,
        shared::model::Waiting::Since { at: at(0), from: 0 }
    );
    assert_eq!(integration_tests::queue_of(&direct, 10).await, vec![(at(0), 9)]);
}
