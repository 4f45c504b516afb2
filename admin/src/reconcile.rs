//! What one conversation in the table must become to match a source that is the truth for
//! it — the ONE rule that `sync` (the legacy MySQL) and a catch-up `import` (a newer dump or
//! export) both apply through `Writer::apply_change`.
//!
//! The table's messages at the end of the conversation (its tail, from some chronological
//! key on) are compared with the source's messages from that same key on. Every message of
//! the tail must be in the source (the legacy system never deletes one, so a message only
//! the table has was written by something else, and is not ours to drop). The change starts
//! at the first position where they differ and runs to the new end: usually just the new
//! messages after the newest; for a message older than some already in the table, also
//! those newer ones, each one place up.

use shared::model::{Conversation, Message, Placed, Waiting, mask_phone};
use shared::stats::StatsShare;
use writer::Change;

/// Why a conversation is left as it is: the table holds data the source does not explain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "conversation {id}: the table holds message {message}, which the source does not have \
         (deleted there, or written to the table by something else); left as it is"
    )]
    MessageNotInSource { id: u64, message: u64 },
    /// The numbers in full; the message shows them masked (`model::mask_phone`).
    #[error(
        "conversation {id}: phone number {} in the table, {} in the source; left as it is",
        mask_phone(.table),
        mask_phone(.in_source)
    )]
    PhoneChanged {
        id: u64,
        table: String,
        in_source: String,
    },
    #[error(
        "conversation {id} changed in the table ({table}) after the source's copy of it \
         ({in_source}): the source is older than the table, or something else writes to it; \
         left as it is"
    )]
    NewerInTable {
        id: u64,
        table: String,
        in_source: String,
    },
    #[error(
        "conversation {id}: the table counts {table} messages where the source has {in_source}; left as it is"
    )]
    MoreInTable { id: u64, table: u64, in_source: u64 },
}

impl Refusal {
    /// The refusal in a word, as the sync's quarantine record keeps it.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::MessageNotInSource { .. } => "message_not_in_source",
            Refusal::PhoneChanged { .. } => "phone_changed",
            Refusal::NewerInTable { .. } => "newer_in_table",
            Refusal::MoreInTable { .. } => "more_in_table",
        }
    }
}

/// The change that makes the table's conversation `current` (None: not in the table) what
/// the source says: `source` for its fields (its count and summary are ignored), `tail` the
/// table's messages from some key on as `Writer::message_tail` reads them (newest first),
/// `desired` the source's messages from that same key on (any order). None when the
/// table already matches.
pub fn change(
    source: &Conversation,
    current: Option<&Conversation>,
    tail: &[Placed],
    mut desired: Vec<Message>,
) -> Result<Option<Change>, Refusal> {
    let id = source.id;
    if let Some(current) = current {
        if current.phone_number != source.phone_number {
            return Err(Refusal::PhoneChanged {
                id,
                table: current.phone_number.clone(),
                in_source: source.phone_number.clone(),
            });
        }
        if current.updated_at > source.updated_at {
            return Err(Refusal::NewerInTable {
                id,
                table: current.updated_at.to_string(),
                in_source: source.updated_at.to_string(),
            });
        }
    }
    desired.sort_unstable_by_key(Message::chronological_key);
    let count = current.map_or(0, |c| c.message_count);
    let first = count - tail.len() as u64;
    // The tail oldest first, position by position against the source's run.
    let ids: std::collections::HashSet<u64> = desired.iter().map(|m| m.id).collect();
    let mut differs_at = None;
    for (i, placed) in tail.iter().rev().enumerate() {
        if !ids.contains(&placed.id) {
            return Err(Refusal::MessageNotInSource {
                id,
                message: placed.id,
            });
        }
        if differs_at.is_none() && desired.get(i).map(|m| m.id) != Some(placed.id) {
            differs_at = Some(i);
        }
    }
    let differs_at = differs_at.unwrap_or(tail.len());
    let final_count = first + desired.len() as u64;
    if final_count < count {
        // A message twice in the table (an interrupted rewrite would leave that only
        // below the count, where the change rewrites it).
        return Err(Refusal::MoreInTable {
            id,
            table: count,
            in_source: final_count,
        });
    }
    let last_message = match desired.last() {
        Some(newest) => Some(newest.summary()),
        None => current.and_then(|c| c.last_message.clone()),
    };
    // A source that worked it out from all its messages (an import's plan) knows best;
    // else from the table's state and the run from `first` on.
    let waiting_before = current.map_or(Waiting::No, |c| c.waiting);
    let waiting = match source.waiting {
        Waiting::Unknown => waiting_before.after(
            count,
            first,
            desired
                .iter()
                .zip(first..)
                .map(|(m, position)| (position, m.sender_type, m.created_at)),
        ),
        known => known,
    };
    let conversation = Conversation {
        message_count: final_count,
        last_message,
        // The store stamps it anew if messages are written.
        messages_changed: current.and_then(|c| c.messages_changed),
        // The table's (a new conversation starts from nothing): the store works out each
        // step's from it (`Change::replaced`).
        stats: current.map_or(Some(StatsShare::default()), |c| c.stats.clone()),
        waiting,
        ..source.clone()
    };
    // The table's messages at the positions rewritten: what they counted for goes.
    let replaced = tail
        .iter()
        .filter(|p| p.position >= first + differs_at as u64)
        .map(|p| p.created_at)
        .collect();
    let messages: Vec<Message> = desired
        .into_iter()
        .enumerate()
        .skip(differs_at)
        .map(|(i, mut m)| {
            m.position = first + i as u64;
            m
        })
        .collect();
    if messages.is_empty() && current == Some(&conversation) {
        return Ok(None);
    }
    Ok(Some(Change {
        conversation,
        expected_count: current.map(|c| c.message_count),
        messages,
        waiting_before,
        replaced,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use shared::model::{MediaType, SenderType, Status};

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn conversation(updated: i64) -> Conversation {
        Conversation {
            id: 1,
            phone_number: "573001".into(),
            contact_name: None,
            status: Status::Active,
            ai_enabled: true,
            last_message_at: at(100),
            created_at: at(1),
            updated_at: at(updated),
            last_message: None,
            message_count: 0,
            messages_changed: None,
            waiting: Waiting::Unknown,
            stats: None,
        }
    }

    fn message(id: u64, secs: i64) -> Message {
        Message {
            id,
            conversation_id: 1,
            position: 0,
            sender_type: SenderType::Customer,
            message_text: format!("m{id}"),
            audio_url: None,
            media_type: MediaType::Text,
            context_used: None,
            confidence_score: None,
            created_at: at(secs),
            whatsapp_id: None,
        }
    }

    /// The table's conversation holding `messages` (in chronological order).
    fn in_table(updated: i64, messages: &[Message]) -> (Conversation, Vec<Placed>) {
        let placed: Vec<Placed> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| Placed {
                id: m.id,
                position: i as u64,
                created_at: m.created_at,
            })
            .rev()
            .collect();
        let c = Conversation {
            message_count: messages.len() as u64,
            last_message: messages.last().map(Message::summary),
            waiting: Waiting::of(messages),
            ..conversation(updated)
        };
        (c, placed)
    }

    #[test]
    fn the_waiting_state_follows_the_messages_and_is_learnt_once() {
        let answer = |id, secs| Message {
            sender_type: shared::model::SenderType::Ai,
            ..message(id, secs)
        };
        let (mut current, tail) = in_table(10, &[message(1, 10), answer(2, 20)]);
        // A customer message after the answer: waiting from it.
        let grown = change(&conversation(30), Some(&current), &[], vec![message(3, 30)])
            .unwrap()
            .unwrap();
        assert_eq!(grown.conversation.waiting, Waiting::Since { at: at(30), from: 2 });
        // A table copy from before the queue existed: written once to record it.
        current.waiting = Waiting::Unknown;
        let all = vec![message(1, 10), answer(2, 20)];
        let learnt = change(&conversation(10), Some(&current), &tail, all)
            .unwrap()
            .unwrap();
        assert_eq!(learnt.conversation.waiting, Waiting::No);
        assert!(learnt.messages.is_empty());
    }

    fn positions(change: &Change) -> Vec<(u64, u64)> {
        change.messages.iter().map(|m| (m.id, m.position)).collect()
    }

    #[test]
    fn new_messages_are_appended_after_the_newest() {
        let (current, _) = in_table(10, &[message(1, 10), message(2, 20)]);
        let change = change(
            &conversation(30),
            Some(&current),
            &[],
            vec![message(4, 30), message(3, 30)],
        )
        .unwrap()
        .unwrap();
        assert_eq!(positions(&change), [(3, 2), (4, 3)]);
        assert_eq!(change.expected_count, Some(2));
        assert_eq!(change.conversation.message_count, 4);
        assert_eq!(change.conversation.last_message.as_ref().unwrap().id, 4);
        assert_eq!(change.moved(), 0);
    }

    #[test]
    fn an_older_message_moves_the_newer_ones_up_one_place() {
        let messages = [message(1, 10), message(2, 20), message(3, 30)];
        let (current, tail) = in_table(10, &messages);
        // Message 5 (t=15) committed late: the tail from its key on is 2, 3.
        let tail: Vec<Placed> = tail.into_iter().filter(|p| p.created_at >= at(15)).collect();
        let desired = vec![message(2, 20), message(3, 30), message(5, 15)];
        let change = change(&conversation(30), Some(&current), &tail, desired)
            .unwrap()
            .unwrap();
        assert_eq!(positions(&change), [(5, 1), (2, 2), (3, 3)]);
        assert_eq!(change.moved(), 2);
        assert_eq!(change.conversation.message_count, 4);
        assert_eq!(change.conversation.last_message.as_ref().unwrap().id, 3);
    }

    #[test]
    fn what_the_table_already_holds_is_not_written_again() {
        let messages = [message(1, 10), message(2, 20)];
        let (current, tail) = in_table(10, &messages);
        let source = Conversation {
            last_message: None,
            message_count: 99,
            ..conversation(10)
        };
        assert_eq!(
            change(&source, Some(&current), &tail, messages.to_vec()),
            Ok(None)
        );
        // Same messages, another status: the conversation item alone.
        let closed = Conversation {
            status: Status::Closed,
            ..conversation(40)
        };
        let change = change(&closed, Some(&current), &tail, messages.to_vec())
            .unwrap()
            .unwrap();
        assert!(change.messages.is_empty());
        assert_eq!(change.conversation.status, Status::Closed);
        assert_eq!(change.conversation.message_count, 2);
    }

    #[test]
    fn a_new_conversation_gets_every_message() {
        let change = change(&conversation(5), None, &[], vec![message(2, 20), message(1, 10)])
            .unwrap()
            .unwrap();
        assert_eq!(change.expected_count, None);
        assert_eq!(positions(&change), [(1, 0), (2, 1)]);
    }

    #[test]
    fn data_the_source_does_not_explain_is_refused() {
        let (current, tail) = in_table(10, &[message(1, 10), message(2, 20)]);
        assert_eq!(
            change(&conversation(30), Some(&current), &tail, vec![message(1, 10)]),
            Err(Refusal::MessageNotInSource { id: 1, message: 2 })
        );
        assert!(matches!(
            change(
                &conversation(5),
                Some(&current),
                &tail,
                vec![message(1, 10), message(2, 20)]
            ),
            Err(Refusal::NewerInTable { .. })
        ));
        let other_phone = Conversation {
            phone_number: "999".into(),
            ..conversation(30)
        };
        let refused = change(&other_phone, Some(&current), &[], vec![]).unwrap_err();
        assert!(matches!(refused, Refusal::PhoneChanged { .. }));
        // Its message names the numbers masked, never in full.
        assert_eq!(
            refused.to_string(),
            "conversation 1: phone number 5•••1 in the table, ••• in the source; left as it is"
        );
    }
}
