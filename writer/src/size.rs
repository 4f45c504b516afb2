//! DynamoDB refuses an item over 400 KB. A message item holds `message_text` and
//! `context_used`, and a conversation item its newest message's text, so every write
//! builds its items through these, and imports check every row before writing anything.

use jiff::Timestamp;

use shared::error::StoreError;
use shared::item::Item;
use shared::model::{Conversation, Message};

/// DynamoDB's limit on one item: its attribute names and values, in bytes.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// Refuses an item DynamoDB would refuse, with `reserve` bytes it may still gain, with a
/// reason that names it and its size.
fn check_item_size(item: Item, reserve: usize, what: impl FnOnce() -> String) -> Result<Item, StoreError> {
    let size = shared::item::size(&item) + reserve;
    if size > MAX_ITEM_BYTES {
        return Err(StoreError::ItemTooLarge {
            what: what(),
            size,
            limit: MAX_ITEM_BYTES,
        });
    }
    Ok(item)
}

/// A message's item, or `ItemTooLarge` when DynamoDB would refuse it. Every write of a
/// message goes through this, and imports check each row with it before writing anything.
pub fn message_item(m: &Message) -> Result<Item, StoreError> {
    check_item_size(shared::item::message_to_item(m), 0, || {
        format!("message {} of conversation {}", m.id, m.conversation_id)
    })
}

/// Bytes a message item holds besides its free texts: attribute names (~120 bytes) and the
/// keys, numbers, enums and time (~140 bytes), with room to spare.
const MESSAGE_FIXED_BYTES: usize = 1024;

/// The check of `message_item` without building the item when the message is clearly
/// small (its texts and the fixed part are under the limit); the exact size otherwise.
/// For validation passes over millions of rows, where building every item would cost more
/// than reading the rows.
pub fn check_message_size(m: &Message) -> Result<(), StoreError> {
    let texts = m.message_text.len()
        + m.context_used.as_ref().map_or(0, String::len)
        + m.audio_url.as_ref().map_or(0, String::len)
        + m.whatsapp_id.as_ref().map_or(0, String::len);
    if texts + MESSAGE_FIXED_BYTES <= MAX_ITEM_BYTES {
        return Ok(());
    }
    message_item(m).map(drop)
}

/// What a messages stamp adds to a conversation item that has none yet: its name and its
/// value (`table::stamp`, fixed width).
const MESSAGES_STAMP_BYTES: usize = shared::table::MESSAGES_CHANGED.len() + "2024-01-15T14:30:25.120Z".len();

/// What a waiting state adds at most: the queue's key, its time and position, the flag.
const WAITING_BYTES: usize = shared::table::WAITING.len()
    + "2024-01-15T14:30:25Z#0000000000000007".len()
    + shared::table::WAITING_SINCE.len()
    + "2024-01-15T14:30:25Z".len()
    + shared::table::WAITING_FROM.len()
    + 21
    + shared::table::WAITING_KNOWN.len()
    + 1;

/// What a statistics share holds at most: its name, the partial mark and newest quarter,
/// and an entry (`<quarter>=<count>,`, 16 bytes with room) for each quarter of the window.
const STATS_BYTES: usize = shared::table::STATS_SHARE.len()
    + 10
    + (shared::stats::WINDOW_SECONDS / shared::stats::QUARTER_SECONDS + 1) as usize * 16;

/// A conversation's item as a write stamped `written` puts it (it carries its newest
/// message's text), or `ItemTooLarge`. Checked with room for a messages stamp where it has
/// none yet, for a waiting state and for the largest statistics share, which its next
/// writes of messages may add: a conversation that fits now fits then.
pub fn conversation_item(c: &Conversation, written: Timestamp) -> Result<Item, StoreError> {
    let mut reserve = if c.messages_changed.is_none() {
        MESSAGES_STAMP_BYTES
    } else {
        0
    };
    if !matches!(c.waiting, shared::model::Waiting::Since { .. }) {
        reserve += WAITING_BYTES;
    }
    let share = c
        .stats
        .as_ref()
        .map_or(0, |share| shared::table::STATS_SHARE.len() + share.encode().len());
    reserve += STATS_BYTES.saturating_sub(share);
    check_item_size(shared::item::conversation_to_item(c, written), reserve, || {
        format!("conversation {} (with its newest message's text)", c.id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::model::Message;
    use shared::model::{MediaType, SenderType};

    fn message(text: usize, context: usize) -> Message {
        Message {
            id: shared::model::MAX_ID,
            conversation_id: shared::model::MAX_ID,
            position: shared::model::MAX_ID,
            sender_type: SenderType::Customer,
            message_text: "é".repeat(text / 2),
            audio_url: Some("/uploads/audios/x.ogg".into()),
            media_type: MediaType::Document,
            context_used: Some("c".repeat(context)),
            confidence_score: Some(0.123_456_789_012_345_6),
            created_at: jiff::Timestamp::MAX,
            whatsapp_id: Some("wamid.HBgMNTczMDAxMjM0NTY3FQIAEhggQjVDRjA5".into()),
        }
    }

    #[test]
    fn the_quick_size_check_agrees_with_the_exact_one() {
        // The fixed part of the largest possible message is well under the allowance.
        let fixed = shared::item::size(&shared::item::message_to_item(&message(0, 0)))
            - "/uploads/audios/x.ogg".len()
            - "wamid.HBgMNTczMDAxMjM0NTY3FQIAEhggQjVDRjA5".len();
        assert!(fixed < MESSAGE_FIXED_BYTES / 2, "{fixed}");
        for (text, context) in [
            (0, 0),
            (65_535, 65_535),
            (300_000, 100_000),
            (409_000, 0),
            (410_000, 0),
        ] {
            let m = message(text, context);
            assert_eq!(
                check_message_size(&m).is_ok(),
                message_item(&m).is_ok(),
                "{text} + {context}"
            );
        }
    }

    #[test]
    fn a_conversation_is_checked_with_room_for_its_messages_stamp() {
        let at = Timestamp::from_second(1_700_000_000).unwrap();
        let c = Conversation {
            id: 1,
            phone_number: "573001112233".into(),
            contact_name: None,
            status: shared::model::Status::Active,
            ai_enabled: true,
            last_message_at: at,
            created_at: at,
            updated_at: at,
            last_message: None,
            message_count: 0,
            messages_changed: None,
            waiting: shared::model::Waiting::No,
            stats: None,
        };
        let stamped = Conversation {
            messages_changed: Some(at),
            ..c.clone()
        };
        let size = |c: &Conversation| shared::item::size(&shared::item::conversation_to_item(c, at));
        assert_eq!(size(&c) + MESSAGES_STAMP_BYTES, size(&stamped));
        let waiting = Conversation {
            id: shared::model::MAX_ID,
            waiting: shared::model::Waiting::Since {
                at,
                from: shared::model::MAX_ID,
            },
            ..c.clone()
        };
        let unknown = Conversation {
            waiting: shared::model::Waiting::Unknown,
            ..waiting.clone()
        };
        assert!(size(&waiting) <= size(&unknown) + WAITING_BYTES);
        // The largest share: every quarter of the window, each with 99,999 messages.
        let now = jiff::Timestamp::MAX - jiff::SignedDuration::from_hours(24 * 365);
        let mut share = shared::stats::StatsShare::of([now], now);
        share.partial = true;
        for q in 0..=shared::stats::WINDOW_SECONDS / shared::stats::QUARTER_SECONDS {
            share.count(now - jiff::SignedDuration::from_secs(q * 900), 99_998, now);
        }
        let counted = Conversation {
            stats: Some(share),
            ..unknown.clone()
        };
        assert!(
            size(&counted) <= size(&unknown) + STATS_BYTES,
            "{}",
            size(&counted) - size(&unknown)
        );
    }
}
