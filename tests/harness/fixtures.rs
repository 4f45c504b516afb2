//! Small builders of domain values for tests and the benchmark.

use jiff::Timestamp;
use shared::model::{Conversation, Status};

/// A fixed clock: 2023-11-14T22:13:20Z plus `secs`.
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).expect("a valid test time")
}

/// A conversation without messages whose last activity is `at(last_secs)`.
pub fn conversation(id: u64, status: Status, last_secs: i64) -> Conversation {
    Conversation {
        id,
        phone_number: format!("57300{id:07}"),
        contact_name: Some(format!("Contact {id}")),
        status,
        ai_enabled: id.is_multiple_of(2),
        last_message_at: at(last_secs),
        created_at: at(0),
        last_message: None,
        message_count: 0,
    }
}
