//! Pass 1 of every import: reads the whole source once, maps and validates every row
//! (unique ids and phone numbers, no orphan messages, every item within DynamoDB's 400 KB)
//! and positions the messages by (created_at, id), the contract's order. It keeps only the
//! conversations and, per message, 32 bytes (id, conversation, time, line) — never message
//! texts — plus the summary of each conversation's newest message. A source that fails
//! here writes nothing. `write` is pass 2, which reads the source again; `Recheck` is how
//! it knows it reads what was planned.

use std::collections::{BTreeMap, HashMap, HashSet};

use indicatif::ProgressBar;
use shared::model::{Conversation, LastMessage, Message, Placed, SenderType, Waiting};
use shared::stats::StatsShare;

use crate::source::{Kind, Mapped, Origin, PlanError, ReadSummary, Source};

/// What pass 1 keeps of a message. `line` becomes the message's position once the
/// messages are validated (the line is only needed for errors).
#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    id: u64,
    conversation_id: u64,
    /// Seconds since the epoch: legacy TIMESTAMPs have no fraction of a second.
    created: i64,
    line_or_position: u64,
}

/// The validated result of pass 1.
#[derive(Debug)]
pub struct Plan {
    /// Complete conversations (count and newest-message summary), by id.
    pub conversations: Vec<Conversation>,
    /// Message positions, sorted by message id.
    positions: Vec<IndexEntry>,
    pub summary: ReadSummary,
}

impl Plan {
    pub fn message_count(&self) -> usize {
        self.positions.len()
    }

    /// Where message `id` is in `positions`, and its entry there.
    fn entry(&self, id: u64) -> Option<(usize, IndexEntry)> {
        let i = self.positions.binary_search_by_key(&id, |e| e.id).ok()?;
        self.positions.get(i).map(|&e| (i, e))
    }

    fn conversation(&self, id: u64) -> Option<&Conversation> {
        // `conversations` is sorted by id (it comes out of a BTreeMap).
        let i = self.conversations.binary_search_by_key(&id, |c| c.id).ok()?;
        self.conversations.get(i)
    }

    /// The planned places of the messages of these conversations, by position.
    pub fn placed_in(&self, conversations: &HashSet<u64>) -> HashMap<u64, Vec<Placed>> {
        let mut placed: HashMap<u64, Vec<Placed>> = HashMap::new();
        for e in self
            .positions
            .iter()
            .filter(|e| conversations.contains(&e.conversation_id))
        {
            placed.entry(e.conversation_id).or_default().push(Placed {
                id: e.id,
                position: e.line_or_position,
                created_at: jiff::Timestamp::from_second(e.created).unwrap_or_default(),
            });
        }
        for run in placed.values_mut() {
            run.sort_unstable_by_key(|p| p.position);
        }
        placed
    }

    pub fn max_ids(&self) -> (u64, u64) {
        (
            self.conversations.iter().map(|c| c.id).max().unwrap_or(0),
            self.positions.last().map_or(0, |e| e.id),
        )
    }
}

/// Pass 1: reads, maps and validates the whole source.
pub fn plan(source: &dyn Source, bar: &ProgressBar) -> Result<Plan, PlanError> {
    let at = |kind: Kind, line: u64| source.origin(kind, line);
    let mut conversations = Vec::new();
    let mut index = Vec::new();
    let mut newest: HashMap<u64, LastMessage> = HashMap::new();
    // Each conversation's newest answer (AI or human), by (created_at, id): every later
    // message is the customer's, so the first of them is where its wait began.
    let mut answered: HashMap<u64, (i64, u64)> = HashMap::new();
    let summary = source.read(bar, &mut |line, row| {
        match row {
            Mapped::Conversation(c) => conversations.push((at(Kind::Conversation, line), c)),
            Mapped::Message(mut m) => {
                // Pass 2 gives the position; check the size at the widest one.
                m.position = shared::model::MAX_ID;
                message_fits(&m, &at(Kind::Message, line))?;
                index.push(IndexEntry {
                    id: m.id,
                    conversation_id: m.conversation_id,
                    created: m.created_at.as_second(),
                    line_or_position: line,
                });
                let newer = newest
                    .get(&m.conversation_id)
                    .is_none_or(|n| (n.created_at, n.id) < m.chronological_key());
                if newer {
                    newest.insert(m.conversation_id, m.summary());
                }
                let key = (m.created_at.as_second(), m.id);
                if m.sender_type != SenderType::Customer
                    && answered.get(&m.conversation_id).is_none_or(|a| *a < key)
                {
                    answered.insert(m.conversation_id, key);
                }
            }
        }
        Ok(())
    })?;
    let by_id = index_conversations(conversations)?;

    // Orphans, the first in the source's order.
    if let Some(orphan) = index
        .iter()
        .filter(|e| !by_id.contains_key(&e.conversation_id))
        .min_by_key(|e| e.line_or_position)
    {
        return Err(PlanError {
            origin: at(Kind::Message, orphan.line_or_position),
            reason: format!(
                "conversation_id {} is not among the imported conversations",
                orphan.conversation_id
            ),
        });
    }
    // Duplicate ids: sorted by (id, line), a repeat follows its first appearance.
    index.sort_unstable_by_key(|e| (e.id, e.line_or_position));
    if let Some([first, repeat]) = index.array_windows().find(|[a, b]| a.id == b.id) {
        return Err(PlanError {
            origin: at(Kind::Message, repeat.line_or_position),
            reason: format!(
                "message id {} already appears at {}",
                first.id,
                at(Kind::Message, first.line_or_position)
            ),
        });
    }

    // Positions: the contract's order, (created_at, id), within each conversation.
    index.sort_unstable_by_key(|e| (e.conversation_id, e.created, e.id));
    let mut counts: HashMap<u64, u64> = HashMap::with_capacity(by_id.len());
    let mut waiting: HashMap<u64, Waiting> = HashMap::new();
    // Each conversation's messages in the daily statistics' window (the writer drops what
    // has left it by the time it writes).
    let now = shared::model::now_seconds();
    let mut stats: HashMap<u64, StatsShare> = HashMap::new();
    for e in &mut index {
        let n = counts.entry(e.conversation_id).or_default();
        e.line_or_position = *n;
        *n += 1;
        let sent = jiff::Timestamp::from_second(e.created).unwrap_or_default();
        if shared::stats::Bucket::of(sent) >= shared::stats::oldest_kept(now) {
            stats.entry(e.conversation_id).or_default().count(sent, 1, now);
        }
        let unanswered = answered
            .get(&e.conversation_id)
            .is_none_or(|a| *a < (e.created, e.id));
        if unanswered && !waiting.contains_key(&e.conversation_id) {
            waiting.insert(
                e.conversation_id,
                Waiting::Since {
                    at: jiff::Timestamp::from_second(e.created).unwrap_or_default(),
                    from: e.line_or_position,
                },
            );
        }
    }
    index.sort_unstable_by_key(|e| e.id);
    index.shrink_to_fit();

    let conversations = by_id
        .into_values()
        .map(|(origin, mut c)| {
            c.message_count = counts.get(&c.id).copied().unwrap_or(0);
            c.last_message = newest.remove(&c.id);
            c.waiting = waiting.remove(&c.id).unwrap_or(Waiting::No);
            let mut share = stats.remove(&c.id).unwrap_or_default();
            share.set_newest(c.last_message.as_ref().map(|m| m.created_at), now);
            c.stats = Some(share);
            conversation_fits(&c, &origin)?;
            Ok(c)
        })
        .collect::<Result<_, PlanError>>()?;
    Ok(Plan {
        conversations,
        positions: index,
        summary,
    })
}

/// Pass 2's check that it reads the messages pass 1 planned. The conversations are written
/// from pass 1's plan (message count, newest message), so a source that changed between the
/// passes (a dump still being written, a rotated backup) would otherwise leave conversations
/// whose count or summary does not match their messages. Every message must come once, in
/// the conversation and at the time pass 1 indexed, a conversation's newest message with
/// the summary pass 1 kept, and none may be missing.
pub(crate) struct Recheck<'a> {
    plan: &'a Plan,
    /// One bit per entry of `plan.positions`: read in pass 2.
    seen: Vec<u64>,
    count: usize,
}

impl<'a> Recheck<'a> {
    pub(crate) fn new(plan: &'a Plan) -> Self {
        Recheck {
            plan,
            seen: vec![0; plan.positions.len().div_ceil(64)],
            count: 0,
        }
    }

    /// The message's position, or what differs from pass 1.
    pub(crate) fn message(&mut self, m: &Message) -> Result<u64, String> {
        let id = m.id;
        let Some((i, e)) = self.plan.entry(id) else {
            return Err(format!("message {id} was not there on the first read"));
        };
        if e.conversation_id != m.conversation_id {
            return Err(format!(
                "message {id} is in conversation {} but was in {} on the first read",
                m.conversation_id, e.conversation_id
            ));
        }
        if e.created != m.created_at.as_second() {
            return Err(format!(
                "message {id} has created_at {} but had {} on the first read",
                m.created_at,
                jiff::Timestamp::from_second(e.created).map_or(e.created.to_string(), |t| t.to_string())
            ));
        }
        let bit = 1u64 << (i % 64);
        // `seen` has a bit for every entry of `positions`: `None` cannot happen.
        let Some(word) = self.seen.get_mut(i / 64) else {
            return Err(format!("message {id} was not there on the first read"));
        };
        if *word & bit != 0 {
            return Err(format!("message {id} appears twice, once on the first read"));
        }
        *word |= bit;
        self.count += 1;
        let last = self
            .plan
            .conversation(m.conversation_id)
            .and_then(|c| c.last_message.as_ref());
        if let Some(last) = last
            && last.id == id
            && *last != m.summary()
        {
            return Err(format!(
                "message {id}, the newest of conversation {}, differs from the first read",
                m.conversation_id
            ));
        }
        Ok(e.line_or_position)
    }

    /// Whether every message pass 1 planned was read.
    pub(crate) fn finish(&self) -> Result<(), String> {
        let planned = self.plan.positions.len();
        if self.count != planned {
            return Err(format!(
                "{} messages read where the first read had {planned}",
                self.count
            ));
        }
        Ok(())
    }
}

/// A message row whose item DynamoDB would refuse (400 KB) stops the import here, in
/// validation, before anything is written. Checked at the widest position the import can
/// give it (the position is part of the item).
fn message_fits(m: &Message, origin: &Origin) -> Result<(), PlanError> {
    writer::check_message_size(m).map_err(|e| PlanError {
        origin: origin.clone(),
        reason: e.to_string(),
    })
}

/// The same for a conversation, whose item carries its newest message's text.
fn conversation_fits(c: &Conversation, origin: &Origin) -> Result<(), PlanError> {
    writer::conversation_item(c, shared::model::write_stamp())
        .map(drop)
        .map_err(|e| PlanError {
            origin: origin.clone(),
            reason: e.to_string(),
        })
}

/// Conversations by id, checked for unique ids and phone numbers.
fn index_conversations(
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

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use shared::model::{MediaType, SenderType, Status};

    /// Rows in memory, for the planning logic alone.
    struct Rows(Vec<(u64, Mapped)>);

    impl Source for Rows {
        fn name(&self) -> &str {
            "rows.sql"
        }
        fn size(&self) -> u64 {
            0
        }
        fn read(
            &self,
            _: &ProgressBar,
            each: &mut dyn FnMut(u64, Mapped) -> Result<(), PlanError>,
        ) -> Result<ReadSummary, PlanError> {
            for (line, row) in &self.0 {
                each(*line, row.clone())?;
            }
            Ok(ReadSummary::default())
        }
    }

    /// An active conversation without messages.
    fn conversation(id: u64, phone: &str) -> Mapped {
        Mapped::Conversation(Conversation {
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
            messages_changed: None,
            waiting: shared::model::Waiting::Unknown,
            stats: None,
        })
    }

    /// A customer text message at `secs`, unpositioned.
    fn message(id: u64, conversation_id: u64, secs: i64) -> Mapped {
        Mapped::Message(Message {
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
        })
    }

    fn position(plan: &Plan, id: u64) -> Option<u64> {
        plan.entry(id).map(|(_, e)| e.line_or_position)
    }

    #[test]
    fn messages_are_positioned_by_time_then_id_with_counts_and_summaries() {
        let rows = vec![
            (1, conversation(1, "a")),
            (2, conversation(2, "b")),
            (3, message(30, 1, 100)),
            (4, message(10, 1, 200)),
            (5, message(20, 1, 100)),
            (6, message(5, 2, 50)),
        ];
        let plan = plan(&Rows(rows), &ProgressBar::hidden()).unwrap();
        let order: Vec<Option<u64>> = [20, 30, 10, 5].iter().map(|&id| position(&plan, id)).collect();
        assert_eq!(order, [Some(0), Some(1), Some(2), Some(0)]);
        let one = &plan.conversations[0];
        assert_eq!(one.message_count, 3);
        assert_eq!(one.last_message.as_ref().unwrap().id, 10);
        // The conversation keeps its own last_message_at.
        assert_eq!(one.last_message_at.as_second(), 1_700_000_000);
        assert_eq!(plan.conversations[1].message_count, 1);
        assert_eq!(plan.max_ids(), (2, 30));
        assert_eq!(plan.message_count(), 4);
    }

    /// What planning `rows` stops with.
    fn error(rows: Vec<(u64, Mapped)>) -> String {
        plan(&Rows(rows), &ProgressBar::hidden()).unwrap_err().to_string()
    }

    #[test]
    fn orphans_and_duplicates_are_reported_at_their_line() {
        assert_eq!(
            error(vec![
                (1, conversation(1, "a")),
                (7, message(1, 1, 1)),
                (9, message(2, 9, 1)),
                (8, message(3, 8, 1)),
            ]),
            "rows.sql:8: conversation_id 8 is not among the imported conversations"
        );
        assert_eq!(
            error(vec![
                (1, conversation(1, "a")),
                (7, message(4, 1, 1)),
                (9, message(4, 1, 2)),
            ]),
            "rows.sql:9: message id 4 already appears at rows.sql:7"
        );
        assert_eq!(
            error(vec![(1, conversation(1, "a")), (2, conversation(1, "b"))]),
            "rows.sql:2: conversation id 1 already appears at rows.sql:1"
        );
        let e = error(vec![(1, conversation(1, "a")), (2, conversation(2, "a"))]);
        assert!(e.starts_with("rows.sql:2: phone_number"), "{e}");
    }
}
