//! Small builders of domain values for tests and the benchmark.

use jiff::Timestamp;
use shared::model::{Conversation, MediaType, Message, SenderType, Status};

/// A fixed clock: 2023-11-14T22:13:20Z plus `secs`.
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).expect("a valid test time")
}

/// A short text message at `at(secs)`: "message <id>", senders in turn by id.
pub fn message(id: u64, conversation_id: u64, position: u64, secs: i64) -> Message {
    Message {
        id,
        conversation_id,
        position,
        sender_type: SenderType::ALL[(id % 3) as usize],
        message_text: format!("message {id}"),
        audio_url: None,
        media_type: MediaType::Text,
        context_used: None,
        confidence_score: None,
        created_at: at(secs),
        whatsapp_id: None,
    }
}

/// The phone number of [`conversation`] `id`.
pub fn phone(id: u64) -> String {
    format!("57300{id:07}")
}

/// A conversation without messages whose last activity is `at(last_secs)`.
pub fn conversation(id: u64, status: Status, last_secs: i64) -> Conversation {
    Conversation {
        id,
        phone_number: phone(id),
        contact_name: Some(format!("Contact {id}")),
        status,
        ai_enabled: id.is_multiple_of(2),
        last_message_at: at(last_secs),
        created_at: at(0),
        updated_at: at(last_secs),
        last_message: None,
        message_count: 0,
        messages_changed: None,
        waiting: shared::model::Waiting::No,
        stats: None,
    }
}

/// Data shaped like production's at its largest: legacy TEXT columns of 64 KB, long AI
/// replies with their RAG context. `LARGE_INBOX` conversations whose newest message is
/// 40 KB (the conversation item carries it: an inbox over 1 MB), and conversation
/// [`LARGE_CONVERSATION`] of `LARGE_MESSAGES` messages of about 60 KB (every page of 20
/// over 1 MB). Conversation `i` (1-based) has its last activity at `at(10 * i)` and
/// status `Status::ALL[i % 3]`; the large conversation is the newest of all.
pub mod large {
    use shared::model::{MediaType, Message, SenderType, Status};
    use shared::{Conversation, Store};
    use writer::{Record, Writer};

    use super::{at, conversation};

    pub const LARGE_INBOX: u64 = 40;
    pub const LARGE_CONVERSATION: u64 = 9000;
    pub const LARGE_MESSAGES: u64 = 60;

    /// About `kb` KB of text, different for each id.
    fn text(id: u64, kb: usize) -> String {
        let mut t = format!("reply {id}: ");
        while t.len() < kb * 1024 {
            t.push_str("Según la política de envíos, el pedido llega en 2-3 días hábiles. ");
        }
        t
    }

    fn message(id: u64, conversation_id: u64, position: u64, kb: usize) -> Message {
        Message {
            id,
            conversation_id,
            position,
            sender_type: if id.is_multiple_of(2) {
                SenderType::Ai
            } else {
                SenderType::Customer
            },
            message_text: text(id, kb / 2),
            audio_url: None,
            media_type: MediaType::Text,
            context_used: Some(text(id + 1, kb / 2)),
            confidence_score: Some(0.9),
            created_at: at(position as i64),
            whatsapp_id: Some(format!("wamid.{id}")),
        }
    }

    /// The conversations in the inbox's order (newest activity first).
    pub fn conversations() -> Vec<Conversation> {
        let mut all: Vec<Conversation> = (1..=LARGE_INBOX)
            .map(|i| {
                let mut c = conversation(i, Status::ALL[(i % 3) as usize], 10 * i as i64);
                let mut newest = message(100_000 + i, i, 0, 80);
                newest.created_at = c.last_message_at;
                c.message_count = 1;
                c.last_message = Some(newest.summary());
                c
            })
            .collect();
        // The newest of all: its last message is at at(500 + 59), after every other one.
        let newest = messages().pop().expect("messages");
        let mut big = conversation(LARGE_CONVERSATION, Status::Active, 0);
        big.message_count = LARGE_MESSAGES;
        big.last_message_at = newest.created_at;
        big.updated_at = newest.created_at;
        big.last_message = Some(newest.summary());
        all.push(big);
        all.sort_by_key(|c| std::cmp::Reverse((c.last_message_at, c.id)));
        all
    }

    /// The large conversation's messages, oldest first (each ~60 KB: 30 KB of reply, 30 KB
    /// of context).
    pub fn messages() -> Vec<Message> {
        (0..LARGE_MESSAGES)
            .map(|p| {
                let mut m = message(p + 1, LARGE_CONVERSATION, p, 60);
                m.created_at = at(500 + p as i64);
                m
            })
            .collect()
    }

    /// Writes everything: each small conversation's one message, the large conversation's
    /// messages, then the conversations.
    pub async fn load(store: &Store) {
        let mut records: Vec<Record> = messages().into_iter().map(Record::Message).collect();
        for c in conversations() {
            if c.id != LARGE_CONVERSATION {
                let mut newest = message(100_000 + c.id, c.id, 0, 80);
                newest.created_at = c.last_message_at;
                records.push(Record::Message(newest));
            }
        }
        records.extend(conversations().into_iter().map(Record::Conversation));
        let writer = Writer::of(store);
        for chunk in records.chunks(25) {
            writer.put_records(chunk).await.expect("load the large items");
        }
    }
}
