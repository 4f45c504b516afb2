//! Turns mapped legacy rows into what the import writes: each conversation with its
//! messages positioned by (created_at, id), its message count and the summary of its
//! newest message. Everything is validated here, before anything is written.

use std::collections::{BTreeMap, HashMap};

use shared::model::{Conversation, Message, Status};
use shared::store::Record;

/// Where a row came from, for error messages: `conversations.jsonl:12`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source: String,
    pub line: u64,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.source, self.line)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {reason}")]
pub struct PlanError {
    pub origin: Origin,
    pub reason: String,
}

/// What an import will write, validated.
#[derive(Debug, Default)]
pub struct ImportPlan {
    /// Conversations, each with its count and newest-message summary.
    pub conversations: Vec<Conversation>,
    /// Messages with their positions, grouped by conversation.
    pub messages: Vec<Message>,
}

impl ImportPlan {
    /// Validates the rows as a whole (unique ids and phone numbers, every message's
    /// conversation present) and positions the messages.
    pub fn build(
        conversations: Vec<(Origin, Conversation)>,
        messages: Vec<(Origin, Message)>,
    ) -> Result<ImportPlan, PlanError> {
        let by_id = index_conversations(conversations)?;
        let mut message_ids: HashMap<u64, Origin> = HashMap::with_capacity(messages.len());
        let mut grouped: BTreeMap<u64, Vec<Message>> = BTreeMap::new();
        let widest_position = messages.len() as u64;
        for (origin, mut m) in messages {
            m.position = widest_position;
            message_fits(&m, &origin)?;
            if !by_id.contains_key(&m.conversation_id) {
                return Err(PlanError {
                    origin,
                    reason: format!(
                        "conversation_id {} is not among the imported conversations",
                        m.conversation_id
                    ),
                });
            }
            if let Some(first) = message_ids.get(&m.id) {
                return Err(PlanError {
                    origin,
                    reason: format!("message id {} already appears at {first}", m.id),
                });
            }
            message_ids.insert(m.id, origin);
            grouped.entry(m.conversation_id).or_default().push(m);
        }

        let mut plan = ImportPlan::default();
        for (id, (origin, mut conversation)) in by_id {
            let mut msgs = grouped.remove(&id).unwrap_or_default();
            msgs.sort_by_key(Message::chronological_key);
            for (position, m) in msgs.iter_mut().enumerate() {
                m.position = position as u64;
            }
            conversation.message_count = msgs.len() as u64;
            conversation.last_message = msgs.last().map(Message::summary);
            conversation_fits(&conversation, &origin)?;
            plan.conversations.push(conversation);
            plan.messages.append(&mut msgs);
        }
        Ok(plan)
    }

    pub fn max_ids(&self) -> (u64, u64) {
        (
            self.conversations.iter().map(|c| c.id).max().unwrap_or(0),
            self.messages.iter().map(|m| m.id).max().unwrap_or(0),
        )
    }

    pub fn per_status(&self) -> Vec<(Status, usize)> {
        per_status(&self.conversations)
    }

    /// Messages first, conversations last: a conversation item (with its count) is what
    /// makes its messages visible, so an interrupted import never shows a conversation
    /// whose messages are missing, and re-running it completes it.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.messages
            .iter()
            .cloned()
            .map(Record::Message)
            .chain(self.conversations.iter().cloned().map(Record::Conversation))
    }

    pub fn record_count(&self) -> usize {
        self.messages.len() + self.conversations.len()
    }
}

/// Conversations by id, checked for unique ids and phone numbers (every import's rule).
/// A message row whose item DynamoDB would refuse (400 KB) stops the import here, in
/// validation, before anything is written. Checked at the widest position the import can
/// give it (the position is part of the item).
pub fn message_fits(m: &Message, origin: &Origin) -> Result<(), PlanError> {
    shared::store::check_message_size(m).map_err(|e| PlanError {
        origin: origin.clone(),
        reason: e.to_string(),
    })
}

/// The same for a conversation, whose item carries its newest message's text.
pub fn conversation_fits(c: &Conversation, origin: &Origin) -> Result<(), PlanError> {
    shared::store::conversation_item(c)
        .map(drop)
        .map_err(|e| PlanError {
            origin: origin.clone(),
            reason: e.to_string(),
        })
}

pub fn index_conversations(
    conversations: Vec<(Origin, Conversation)>,
) -> Result<BTreeMap<u64, (Origin, Conversation)>, PlanError> {
    let mut by_id: BTreeMap<u64, (Origin, Conversation)> = BTreeMap::new();
    let mut phones: HashMap<String, Origin> = HashMap::new();
    for (origin, c) in conversations {
        if let Some((first, _)) = by_id.get(&c.id) {
            return Err(PlanError {
                origin,
                reason: format!("conversation id {} already appears at {first}", c.id),
            });
        }
        if let Some(first) = phones.get(&c.phone_number) {
            return Err(PlanError {
                origin,
                reason: format!("phone_number {:?} already appears at {first}", c.phone_number),
            });
        }
        phones.insert(c.phone_number.clone(), origin.clone());
        by_id.insert(c.id, (origin, c));
    }
    Ok(by_id)
}

/// How many conversations have each status, in `Status::ALL` order.
pub fn per_status(conversations: &[Conversation]) -> Vec<(Status, usize)> {
    Status::ALL
        .into_iter()
        .map(|s| (s, conversations.iter().filter(|c| c.status == s).count()))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jiff::Timestamp;
    use shared::model::{MediaType, SenderType};

    fn origin(line: u64) -> Origin {
        Origin {
            source: "x.jsonl".into(),
            line,
        }
    }

    /// An active conversation without messages (shared with `streaming`'s tests).
    pub(crate) fn conversation(id: u64, phone: &str) -> Conversation {
        Conversation {
            id,
            phone_number: phone.into(),
            contact_name: None,
            status: Status::Active,
            ai_enabled: true,
            last_message_at: Timestamp::from_second(1_700_000_000).unwrap(),
            created_at: Timestamp::from_second(1_600_000_000).unwrap(),
            updated_at: Timestamp::from_second(1_700_000_000).unwrap(),
            last_message: None,
            message_count: 0,
        }
    }

    /// A customer text message at `secs`, unpositioned (shared with `streaming`'s tests).
    pub(crate) fn message(id: u64, conversation_id: u64, secs: i64) -> Message {
        Message {
            id,
            conversation_id,
            position: 0,
            sender_type: SenderType::Customer,
            message_text: format!("m{id}"),
            audio_url: None,
            media_type: MediaType::Text,
            context_used: None,
            confidence_score: None,
            created_at: Timestamp::from_second(secs).unwrap(),
            whatsapp_id: None,
        }
    }

    #[test]
    fn messages_are_positioned_by_time_then_id() {
        let plan = ImportPlan::build(
            vec![(origin(1), conversation(1, "a"))],
            vec![
                (origin(1), message(30, 1, 100)),
                (origin(2), message(10, 1, 200)),
                (origin(3), message(20, 1, 100)),
            ],
        )
        .unwrap();
        let order: Vec<(u64, u64)> = plan.messages.iter().map(|m| (m.id, m.position)).collect();
        assert_eq!(order, vec![(20, 0), (30, 1), (10, 2)]);
        assert_eq!(plan.conversations[0].message_count, 3);
        assert_eq!(plan.conversations[0].last_message.as_ref().unwrap().id, 10);
        // The conversation keeps its own last_message_at.
        assert_eq!(plan.conversations[0].last_message_at.as_second(), 1_700_000_000);
    }

    #[test]
    fn duplicates_and_orphans_are_rejected_with_their_line() {
        let e = ImportPlan::build(
            vec![
                (origin(1), conversation(1, "a")),
                (origin(2), conversation(1, "b")),
            ],
            vec![],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.jsonl:2: conversation id 1 already appears at x.jsonl:1"
        );
        let e = ImportPlan::build(
            vec![
                (origin(1), conversation(1, "a")),
                (origin(2), conversation(2, "a")),
            ],
            vec![],
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("x.jsonl:2: phone_number"), "{e}");
        let e = ImportPlan::build(
            vec![(origin(1), conversation(1, "a"))],
            vec![(origin(5), message(1, 9, 1))],
        )
        .unwrap_err();
        assert_eq!(e.origin.line, 5);
        let e = ImportPlan::build(
            vec![(origin(1), conversation(1, "a"))],
            vec![(origin(1), message(1, 1, 1)), (origin(2), message(1, 1, 1))],
        )
        .unwrap_err();
        assert_eq!(e.origin.line, 2);
    }
}
