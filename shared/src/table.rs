//! The table design as data: attribute names, key formats, the indexes and the table
//! definition. This is the only place that spells an attribute name or a key: `item` maps
//! domain values to items by these names, `store` builds every expression from them, `convo-admin create-table` and the tests create tables from it, and a
//! test compares it with `template.yaml`. `docs/DESIGN.md` explains the choices.
//!
//! | item          | pk                 | sk                  | GSI keys                                   |
//! |---------------|--------------------|---------------------|--------------------------------------------|
//! | conversation  | `C#<id>`           | `META`              | inbox=`ALL`, status, activity=`<ts>#<id>`, changed=`<written>#<id>`, waiting=`<since>#<id>` (waiting ones only) |
//! | message       | `C#<conversation>` | `M#<position:016>`  | –                                          |
//! | phone claim   | `PHONE#<number>`   | `PHONE`             | –                                          |
//! | id counter    | `COUNTER`          | `conversation`/`message` | –                                     |
//! | sync checkpoint | `SYNC`           | `mysql`             | –                                          |
//! | sync quarantine | `SYNC`           | `QUARANTINE#<id:016>` | –                                        |
//! | tally shard   | `TALLY`            | `shard#<n>`         | –                                          |
//! | stats hour    | `TALLY`            | `hour#<UTC hour>`   | –                                          |
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
/// Sort key of [`INDEX_BY_CHANGE`]: `<stamp>#<id:016>` ([`changed`]): when the store last
/// wrote a change of the conversation of any kind, on the writer's clock (not a legacy
/// business time: a row the sync carries over late is a change when it is written).
pub const CHANGED: &str = "changed";
/// The [`stamp`] of the last write that changed the conversation's messages (one added, or
/// moved up a place): what the per-conversation poll compares. Absent on items written
/// before it existed, which that poll then reads as before (the newest `created_at`).
pub const MESSAGES_CHANGED: &str = "messages_changed";

/// The whole inbox, newest activity first.
pub const INDEX_BY_ACTIVITY: &str = "by_activity";
/// One status's inbox, newest activity first.
pub const INDEX_BY_STATUS: &str = "by_status";
/// Every conversation by when its last change was written (status, `ai_enabled`, name, a
/// message): what the dashboard's inbox polls ask for ("what changed after T?").
pub const INDEX_BY_CHANGE: &str = "by_change";
/// The needs-reply queue: waiting conversations only (sparse: [`WAITING`] is absent on the
/// others), longest-waiting first.
pub const INDEX_BY_WAITING: &str = "by_waiting";
/// One status's needs-reply queue.
pub const INDEX_BY_WAITING_STATUS: &str = "by_waiting_status";
/// Sort key of both queue indexes, on waiting conversations only:
/// `<waiting_since as RFC 3339 UTC>#<id:016>` ([`activity`]'s form): the oldest unanswered
/// customer message first, equal times by id.
pub const WAITING: &str = "waiting";
/// On a waiting conversation: the `created_at` of its oldest unanswered customer message...
pub const WAITING_SINCE: &str = "waiting_since";
/// ...and that message's position (where the trailing run of customer messages starts).
pub const WAITING_FROM: &str = "waiting_from";
/// On a conversation item whose waiting state is known (waiting or answered). Items written
/// before the queue existed lack it until a write of their messages or the backfill.
pub const WAITING_KNOWN: &str = "waiting_known";
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
/// A conversation the sync set aside instead of stopping (`SYNC`, [`quarantine_sk`]): the
/// table holds what MySQL does not explain. Later rounds skip it until `convo-admin sync
/// --rebuild` rebuilds it from MySQL and deletes the record. Attributes: CONVERSATION_ID,
/// PHONE_NUMBER (the legacy row's), UPDATED_AT (the legacy row's when it was set aside),
/// LAST_MESSAGE_ID (MySQL's newest message then, when the sync read it), and these.
pub const QUARANTINE_SK_PREFIX: &str = "QUARANTINE#";
/// Why, in a word: `message_not_in_source`, `phone_changed`, `newer_in_table`,
/// `more_in_table`, `phone_taken`.
pub const QUARANTINE_CODE: &str = "reason_code";
/// Why, as the refusal says it (phone numbers masked).
pub const QUARANTINE_REASON: &str = "reason";
pub const QUARANTINED_AT: &str = "quarantined_at";

/// The tally: how many conversations of each status and how many messages the table holds
/// (`GET /api/conversations/counts`). Shards of one partition (`TALLY`, [`tally_sk`]); each
/// write of a conversation adds what it changes to one shard chosen at random, in the same
/// transaction, so no shard is hot and a read is one Query of [`TALLY_SHARDS`] items.
/// Attributes: each status's name, and [`TALLY_MESSAGES`].
pub const TALLY_PK: &str = "TALLY";
pub const TALLY_SHARDS: u32 = 4;
pub const TALLY_MESSAGES: &str = "messages";
/// On a conversation item: its status and message count are in the tally. Items written
/// before the tally existed lack it and count for nothing until a write (or the backfill)
/// adds them whole.
pub const COUNTED: &str = "counted";

/// The daily statistics (`GET /api/stats`, `crate::stats`): one item per UTC hour under
/// [`TALLY_PK`] ([`stats_hour_sk`]), read with the shards in one Query. Attributes:
/// [`STATS_HOUR`], and per quarter `q` (0–3) `m<q>` (messages sent then) and `n<q>`
/// (conversations whose newest message was sent then).
pub const STATS_HOUR_PREFIX: &str = "hour#";
/// An hour item's start, Unix seconds.
pub const STATS_HOUR: &str = "hour";
/// On a conversation item: what it adds to the hour items (`stats::StatsShare::encode`).
/// Items written before the statistics existed lack it and add nothing until the backfill
/// counts them.
pub const STATS_SHARE: &str = "stats";
/// A tally shard's sort key prefix; the hour items sort before the shards.
pub const TALLY_SHARD_PREFIX: &str = "shard#";

/// Messages of quarter `q` of an hour item.
pub fn stats_messages(q: usize) -> String {
    format!("m{q}")
}

/// Conversations whose newest message is in quarter `q` of an hour item.
pub fn stats_newest(q: usize) -> String {
    format!("n{q}")
}

/// Sort key of the hour item of the hour starting at `hour` (Unix seconds):
/// `hour#2026-12-07T17`, so that the items sort as the hours do.
pub fn stats_hour_sk(hour: i64) -> String {
    let t = Timestamp::from_second(hour).unwrap_or(Timestamp::UNIX_EPOCH);
    format!("{STATS_HOUR_PREFIX}{}", t.strftime("%Y-%m-%dT%H"))
}

/// Sort key of a tally shard, under [`TALLY_PK`].
pub fn tally_sk(shard: u32) -> String {
    format!("{TALLY_SHARD_PREFIX}{shard}")
}

/// Width of the zero-padded numbers in keys: 2^53 - 1 has 16 digits.
const NUMBER_WIDTH: usize = 16;

pub fn conversation_pk(id: u64) -> String {
    format!("C#{id}")
}

pub fn message_sk(position: u64) -> String {
    format!("M#{position:0NUMBER_WIDTH$}")
}

/// Sort key of a conversation's quarantine record, under [`SYNC_PK`]: by id.
pub fn quarantine_sk(conversation_id: u64) -> String {
    format!("{QUARANTINE_SK_PREFIX}{conversation_id:0NUMBER_WIDTH$}")
}

pub fn phone_pk(phone_number: &str) -> String {
    format!("PHONE#{phone_number}")
}

/// Sort key of the inbox indexes: later activity sorts later, equal times by id, so a
/// descending query gives the contract's order (`last_message_at` desc, then `id` desc).
pub fn activity(last_message_at: Timestamp, id: u64) -> String {
    format!("{last_message_at}#{id:0NUMBER_WIDTH$}")
}

/// A write's time as stored: RFC 3339 UTC with exactly three fractional digits
/// (`2024-01-15T14:30:25.120Z`), so that the text sorts as the time does.
pub fn stamp(written: Timestamp) -> String {
    format!("{written:.3}")
}

/// Sort key of [`INDEX_BY_CHANGE`]: the write's [`stamp`], then the id. Keys written before
/// stamps existed hold a whole second (`…:25Z#…`): `Z` sorts after `.`, so such a key
/// counts as the last moment of its second, and still before every later second.
pub fn changed(written: Timestamp, id: u64) -> String {
    format!("{}#{id:0NUMBER_WIDTH$}", stamp(written))
}

/// A bound above every [`changed`] key stamped at or before `t` (`<stamp>#<any id>`):
/// `key > changed_after(t)` holds exactly for writes stamped later.
pub fn changed_after(t: Timestamp) -> String {
    format!("{}#{}", stamp(t), "9".repeat(NUMBER_WIDTH))
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
            (WAITING, AttrType::S),
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
            IndexSpec {
                name: INDEX_BY_WAITING,
                partition_key: INBOX,
                sort_key: WAITING,
                projection: IndexProjection::All,
            },
            IndexSpec {
                name: INDEX_BY_WAITING_STATUS,
                partition_key: STATUS,
                sort_key: WAITING,
                projection: IndexProjection::All,
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
    fn stamps_sort_as_their_times() {
        let t: Timestamp = "2024-01-15T14:30:25Z".parse().unwrap();
        let ms = |n: i64| t + jiff::SignedDuration::from_millis(n);
        assert_eq!(stamp(t), "2024-01-15T14:30:25.000Z");
        assert_eq!(stamp(ms(120)), "2024-01-15T14:30:25.120Z");
        let mut keys = vec![
            changed(ms(1000), 1),
            changed(ms(999), 2),
            changed(ms(0), 3),
            changed(ms(10), 1),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                changed(ms(0), 3),
                changed(ms(10), 1),
                changed(ms(999), 2),
                changed(ms(1000), 1)
            ]
        );
    }

    #[test]
    fn after_a_stamp_comes_every_key_stamped_later_only() {
        let t: Timestamp = "2024-01-15T14:30:25.500Z".parse().unwrap();
        let ms = |n: i64| t + jiff::SignedDuration::from_millis(n);
        assert!(changed(t, crate::model::MAX_ID) < changed_after(t));
        assert!(changed(ms(1), 1) > changed_after(t));
        assert!(changed(ms(-1), crate::model::MAX_ID) < changed_after(t));
    }

    #[test]
    fn keys_written_before_stamps_count_as_the_end_of_their_second() {
        // `activity` is the old `changed` form: a whole second.
        let second: Timestamp = "2024-01-15T14:30:25Z".parse().unwrap();
        let old = activity(second, 7);
        assert!(old > changed_after(second + jiff::SignedDuration::from_millis(999)));
        assert!(old < changed_after(second + jiff::SignedDuration::from_secs(1)));
        assert!(old < changed(second + jiff::SignedDuration::from_secs(1), 1));
    }
}
