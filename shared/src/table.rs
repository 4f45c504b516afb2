//! The table design as data: attribute names, key formats, the indexes and the table
//! definition. This is the only place that spells an attribute name or a key: `item` maps
//! domain values to items by these names, `store` builds every expression from them, `convo-admin create-table` and the tests create tables from it, and a
//! test compares it with `template.yaml`. `docs/DESIGN.md` explains the choices.
//!
//! | item          | pk                 | sk                  | GSI keys                                   |
//! |---------------|--------------------|---------------------|--------------------------------------------|
//! | conversation  | `C#<id>`           | `META`              | inbox=`ALL`, status, activity=`<ts>#<id>`, changed=`<ts>#<id>` |
//! | message       | `C#<conversation>` | `M#<position:016>`  | –                                          |
//! | phone claim   | `PHONE#<number>`   | `PHONE`             | –                                          |
//! | id counter    | `COUNTER`          | `conversation`/`message` | –                                     |
//! | sync checkpoint | `SYNC`           | `mysql`             | –                                          |
//!
//! `M#…` sorts before `META` (`#` < `E`), so one descending query from `META` returns the
//! conversation followed by its newest messages: the first page in one round trip.

use jiff::Timestamp;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
/// Partition key of [`INDEX_BY_ACTIVITY`]: every conversation carries [`INBOX_ALL`].
pub const INBOX: &str = "inbox";
/// Partition key of [`INDEX_BY_STATUS`]: the conversation's status.
pub const STATUS: &str = "status";
/// Sort key of both inbox indexes: `<last_message_at as RFC 3339 UTC>#<id:016>`.
pub const ACTIVITY: &str = "activity";
/// Sort key of [`INDEX_BY_CHANGE`]: `<max(updated_at, last_message_at) as RFC 3339
/// UTC>#<id:016>`: when the conversation last changed in any way.
pub const CHANGED: &str = "changed";

/// The whole inbox, newest activity first.
pub const INDEX_BY_ACTIVITY: &str = "by_activity";
/// One status's inbox, newest activity first.
pub const INDEX_BY_STATUS: &str = "by_status";
/// Every conversation by its last change (status, `ai_enabled`, name, a message): what the
/// dashboard's polls ask for ("what changed after T?").
pub const INDEX_BY_CHANGE: &str = "by_change";
/// What [`INDEX_BY_CHANGE`] holds besides the keys: what a poll answers, nothing more, so
/// its index writes stay small whatever the conversation's last message holds.
pub const BY_CHANGE_ATTRIBUTES: [&str; 4] = [ID, LAST_MESSAGE_AT, STATUS, UPDATED_AT];

// The other attributes. A conversation item (`C#<id>`, `META`) has
// ID, PHONE_NUMBER, CONTACT_NAME (absent for NULL), STATUS, AI_ENABLED, LAST_MESSAGE_AT,
// CREATED_AT, UPDATED_AT, MESSAGE_COUNT and, once it has messages, the newest one's
// LAST_MESSAGE_ID, LAST_MESSAGE, LAST_SENDER_TYPE, LAST_MESSAGE_CREATED_AT. A message item
// has ID, CONVERSATION_ID, POSITION, SENDER_TYPE, MESSAGE_TEXT, MEDIA_TYPE, CREATED_AT and,
// when not NULL, AUDIO_URL, CONTEXT_USED, CONFIDENCE_SCORE, WHATSAPP_ID. A phone claim has
// PHONE_NUMBER and CONVERSATION_ID; an id counter NEXT_ID. Times are RFC 3339 UTC strings.
pub const ID: &str = "id";
pub const PHONE_NUMBER: &str = "phone_number";
pub const CONTACT_NAME: &str = "contact_name";
pub const AI_ENABLED: &str = "ai_enabled";
pub const LAST_MESSAGE_AT: &str = "last_message_at";
pub const CREATED_AT: &str = "created_at";
pub const UPDATED_AT: &str = "updated_at";
pub const MESSAGE_COUNT: &str = "message_count";
pub const LAST_MESSAGE_ID: &str = "last_message_id";
pub const LAST_MESSAGE: &str = "last_message";
pub const LAST_SENDER_TYPE: &str = "last_sender_type";
pub const LAST_MESSAGE_CREATED_AT: &str = "last_message_created_at";
pub const CONVERSATION_ID: &str = "conversation_id";
pub const POSITION: &str = "position";
pub const SENDER_TYPE: &str = "sender_type";
pub const MESSAGE_TEXT: &str = "message_text";
pub const AUDIO_URL: &str = "audio_url";
pub const MEDIA_TYPE: &str = "media_type";
pub const CONTEXT_USED: &str = "context_used";
pub const CONFIDENCE_SCORE: &str = "confidence_score";
pub const WHATSAPP_ID: &str = "whatsapp_id";
pub const NEXT_ID: &str = "next_id";

pub const INBOX_ALL: &str = "ALL";
pub const META_SK: &str = "META";
pub const PHONE_SK: &str = "PHONE";
pub const COUNTER_PK: &str = "COUNTER";
pub const CONVERSATION_COUNTER_SK: &str = "conversation";
pub const MESSAGE_COUNTER_SK: &str = "message";
/// Where `convo-admin sync` keeps its checkpoint (sort key: the source, `SYNC_MYSQL_SK`).
pub const SYNC_PK: &str = "SYNC";
pub const SYNC_MYSQL_SK: &str = "mysql";
/// Checkpoint attributes: messages with ids up to this one are all applied...
pub const SYNC_MESSAGE_ID: &str = "settled_message_id";
/// ...and conversations changed (legacy `updated_at`) before this time.
pub const SYNC_CONVERSATIONS_SINCE: &str = "conversations_since";
pub const SYNC_SAVED_AT: &str = "saved_at";

/// Width of the zero-padded numbers in keys: 2^53 - 1 has 16 digits.
const NUMBER_WIDTH: usize = 16;

pub fn conversation_pk(id: u64) -> String {
    format!("C#{id}")
}

pub fn message_sk(position: u64) -> String {
    format!("M#{position:0NUMBER_WIDTH$}")
}

pub fn phone_pk(phone_number: &str) -> String {
    format!("PHONE#{phone_number}")
}

/// Sort key of the inbox indexes: later activity sorts later, equal times by id, so a
/// descending query gives the contract's order (`last_message_at` desc, then `id` desc).
pub fn activity(last_message_at: Timestamp, id: u64) -> String {
    format!("{last_message_at}#{id:0NUMBER_WIDTH$}")
}

/// Sort key of [`INDEX_BY_CHANGE`]: the later of the two times, then the id.
pub fn changed(updated_at: Timestamp, last_message_at: Timestamp, id: u64) -> String {
    activity(updated_at.max(last_message_at), id)
}

/// A sort-key bound above every key of second `t` (`<t>#<any id>`), for "after `t`"
/// conditions on the index sort keys: `key > after(t)` holds exactly for later seconds.
pub fn after(t: Timestamp) -> String {
    format!("{t}#{}", "9".repeat(NUMBER_WIDTH))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    S,
    N,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::S => "S",
            AttrType::N => "N",
        }
    }
}

/// What an index holds besides the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexProjection {
    /// Every attribute: the inbox is served from the index alone.
    All,
    /// These attributes only.
    Include(&'static [&'static str]),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub projection: IndexProjection,
}

/// The table definition, independent of any SDK type so it can be compared with
/// `DescribeTable` output and with `template.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub attributes: Vec<(&'static str, AttrType)>,
    pub indexes: Vec<IndexSpec>,
    pub on_demand: bool,
}

pub fn spec() -> TableSpec {
    TableSpec {
        partition_key: PK,
        sort_key: SK,
        attributes: vec![
            (PK, AttrType::S),
            (SK, AttrType::S),
            (INBOX, AttrType::S),
            (STATUS, AttrType::S),
            (ACTIVITY, AttrType::S),
            (CHANGED, AttrType::S),
        ],
        indexes: vec![
            IndexSpec {
                name: INDEX_BY_ACTIVITY,
                partition_key: INBOX,
                sort_key: ACTIVITY,
                projection: IndexProjection::All,
            },
            IndexSpec {
                name: INDEX_BY_STATUS,
                partition_key: STATUS,
                sort_key: ACTIVITY,
                projection: IndexProjection::All,
            },
            IndexSpec {
                name: INDEX_BY_CHANGE,
                partition_key: INBOX,
                sort_key: CHANGED,
                projection: IndexProjection::Include(&BY_CHANGE_ATTRIBUTES),
            },
        ],
        on_demand: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_keys_sort_by_position_and_before_meta() {
        let mut keys = vec![message_sk(10), META_SK.to_string(), message_sk(9), message_sk(0)];
        keys.sort();
        assert_eq!(
            keys,
            vec![message_sk(0), message_sk(9), message_sk(10), META_SK.to_string()]
        );
        assert!(message_sk(crate::model::MAX_ID).as_str() < META_SK);
    }

    #[test]
    fn activity_sorts_by_time_then_id() {
        let t1: Timestamp = "2024-01-15T14:30:25Z".parse().unwrap();
        let t2: Timestamp = "2024-01-15T14:30:26Z".parse().unwrap();
        assert!(activity(t1, 9) < activity(t1, 10));
        assert!(activity(t1, 999) < activity(t2, 1));
        assert_eq!(activity(t1, 7), "2024-01-15T14:30:25Z#0000000000000007");
    }

    #[test]
    fn after_a_second_comes_every_key_of_later_seconds_only() {
        let t1: Timestamp = "2024-01-15T14:30:25Z".parse().unwrap();
        let t2: Timestamp = "2024-01-15T14:30:26Z".parse().unwrap();
        assert!(activity(t1, crate::model::MAX_ID) < after(t1));
        assert!(activity(t2, 1) > after(t1));
        assert_eq!(changed(t1, t2, 3), activity(t2, 3));
        assert_eq!(changed(t2, t1, 3), activity(t2, 3));
    }
}
