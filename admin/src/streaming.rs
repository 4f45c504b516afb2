//! The import of a source too big to hold: two passes over it.
//!
//! Pass 1 maps and validates every row (the one mapping of `legacy`, the plan's rules:
//! unique ids and phone numbers, no orphan messages) and keeps only the conversations and,
//! per message, 32 bytes (id, conversation, time, line) — never message texts — plus the
//! summary of each conversation's newest message. From those it positions the messages.
//! Pass 2 raises the id counters, reads the source again and writes the messages in
//! streaming chunks, then the conversations (a conversation item is what makes its
//! messages visible). A source that fails pass 1 writes nothing; one that reads differently
//! in pass 2 (a file changed in between) stops before any conversation is written.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use shared::Store;
use shared::model::{Conversation, LastMessage, Message, Status};
use shared::store::Record;
use tokio::sync::mpsc;

use crate::import::{self, BatchWriter, ImportError, RECORDS_PER_TASK};
use crate::plan::{self, Origin, PlanError};

/// A mapped legacy row.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    Conversation(Conversation),
    Message(Message),
}

/// Rows of another table, skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub table: String,
    pub rows: u64,
    pub reason: String,
}

/// What a source says about a full read besides its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSummary {
    pub skipped: Vec<Skipped>,
    /// Lines for the report (e.g. which time zone the timestamps were read in).
    pub notes: Vec<String>,
}

/// A source of legacy rows that can be read twice, the same way each time.
pub trait Source: Send + Sync + 'static {
    /// The file name errors start with.
    fn name(&self) -> &str;
    /// Size in bytes for the pass 1 progress bar, which `read` advances.
    fn size(&self) -> u64;
    /// Reads every row from the start, in order, passing each mapped row with its line to
    /// `each`; stops at the first error.
    fn read(
        &self,
        bar: &ProgressBar,
        each: &mut dyn FnMut(u64, Mapped) -> Result<(), PlanError>,
    ) -> Result<ReadSummary, PlanError>;
    /// An error if the source is no longer what pass 1 read (a file since changed); pass 2
    /// asks before it reads and again before it writes the conversations.
    fn check_unchanged(&self) -> Result<(), PlanError> {
        Ok(())
    }
}

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
pub struct StreamPlan {
    /// Complete conversations (count and newest-message summary), by id.
    pub conversations: Vec<Conversation>,
    /// Message positions, sorted by message id.
    positions: Vec<IndexEntry>,
    pub summary: ReadSummary,
}

impl StreamPlan {
    pub fn message_count(&self) -> usize {
        self.positions.len()
    }

    /// Where message `id` is in `positions`.
    fn index_of(&self, id: u64) -> Option<usize> {
        self.positions.binary_search_by_key(&id, |e| e.id).ok()
    }

    fn conversation(&self, id: u64) -> Option<&Conversation> {
        // `conversations` is sorted by id (it comes out of a BTreeMap).
        let i = self.conversations.binary_search_by_key(&id, |c| c.id).ok()?;
        Some(&self.conversations[i])
    }

    fn max_ids(&self) -> (u64, u64) {
        (
            self.conversations.iter().map(|c| c.id).max().unwrap_or(0),
            self.positions.last().map_or(0, |e| e.id),
        )
    }
}

/// Pass 1: reads, maps and validates the whole source.
pub fn plan(source: &dyn Source, bar: &ProgressBar) -> Result<StreamPlan, PlanError> {
    let at = |line: u64| Origin {
        source: source.name().to_string(),
        line,
    };
    let mut conversations = Vec::new();
    let mut index = Vec::new();
    let mut newest: HashMap<u64, LastMessage> = HashMap::new();
    let summary = source.read(bar, &mut |line, row| {
        match row {
            Mapped::Conversation(c) => conversations.push((at(line), c)),
            Mapped::Message(mut m) => {
                // Pass 2 gives the position; check the size at the widest one.
                m.position = shared::model::MAX_ID;
                plan::message_fits(&m, &at(line))?;
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
            }
        }
        Ok(())
    })?;
    let by_id = plan::index_conversations(conversations)?;

    // Orphans, the first in the source's order.
    if let Some(orphan) = index
        .iter()
        .filter(|e| !by_id.contains_key(&e.conversation_id))
        .min_by_key(|e| e.line_or_position)
    {
        return Err(PlanError {
            origin: at(orphan.line_or_position),
            reason: format!(
                "conversation_id {} is not among the imported conversations",
                orphan.conversation_id
            ),
        });
    }
    // Duplicate ids: sorted by (id, line), a repeat follows its first appearance.
    index.sort_unstable_by_key(|e| (e.id, e.line_or_position));
    if let Some(pair) = index.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(PlanError {
            origin: at(pair[1].line_or_position),
            reason: format!(
                "message id {} already appears at {}",
                pair[0].id,
                at(pair[0].line_or_position)
            ),
        });
    }

    // Positions: the contract's order, (created_at, id), within each conversation.
    index.sort_unstable_by_key(|e| (e.conversation_id, e.created, e.id));
    let mut counts: HashMap<u64, u64> = HashMap::with_capacity(by_id.len());
    for e in &mut index {
        let n = counts.entry(e.conversation_id).or_default();
        e.line_or_position = *n;
        *n += 1;
    }
    index.sort_unstable_by_key(|e| e.id);
    index.shrink_to_fit();

    let conversations = by_id
        .into_values()
        .map(|(origin, mut c)| {
            c.message_count = counts.get(&c.id).copied().unwrap_or(0);
            c.last_message = newest.remove(&c.id);
            plan::conversation_fits(&c, &origin)?;
            Ok(c)
        })
        .collect::<Result<_, PlanError>>()?;
    Ok(StreamPlan {
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
struct Recheck<'a> {
    plan: &'a StreamPlan,
    /// One bit per entry of `plan.positions`: read in pass 2.
    seen: Vec<u64>,
    count: usize,
}

impl<'a> Recheck<'a> {
    fn new(plan: &'a StreamPlan) -> Self {
        Recheck {
            plan,
            seen: vec![0; plan.positions.len().div_ceil(64)],
            count: 0,
        }
    }

    /// The message's position, or what differs from pass 1.
    fn message(&mut self, m: &Message) -> Result<u64, String> {
        let id = m.id;
        let Some(i) = self.plan.index_of(id) else {
            return Err(format!("message {id} was not there on the first read"));
        };
        let e = self.plan.positions[i];
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
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        if self.seen[word] & bit != 0 {
            return Err(format!("message {id} appears twice, once on the first read"));
        }
        self.seen[word] |= bit;
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
    fn finish(&self) -> Result<(), String> {
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

/// Pass 2 read something else than pass 1: nothing more is written. The messages written so
/// far stay out of sight, as no conversation item of this import points at them yet.
fn changed(source: &str, line: u64, what: String) -> PlanError {
    PlanError {
        origin: Origin {
            source: source.to_string(),
            line,
        },
        reason: format!(
            "{what}: the file changed between the two reads; stopped before writing the \
             conversations (the messages written so far are not shown); re-run the import \
             with an unchanged file"
        ),
    }
}

/// Pass 2 and the writes: the id counters, then messages as the source is read again, then
/// conversations. The table checks of every import come first.
pub async fn write(
    store: &Store,
    source: Arc<dyn Source>,
    plan: Arc<StreamPlan>,
    bar: &ProgressBar,
) -> Result<u32, anyhow::Error> {
    // A file changed since pass 1 is refused before anything is written.
    source.check_unchanged()?;
    import::check_against_table(store, &plan.conversations).await?;
    // Counters first, before any imported id is written (see `import::write_plan`).
    let (max_conversation, max_message) = plan.max_ids();
    store
        .raise_id_counters(max_conversation, max_message)
        .await
        .map_err(ImportError::from)?;
    let mut writer = BatchWriter::new(store, bar);

    // The source is read on a blocking thread; chunks of messages come over a bounded
    // channel, so reading waits for writing and memory stays bounded.
    let (tx, mut rx) = mpsc::channel::<Vec<Record>>(4);
    let reader = {
        let plan = plan.clone();
        tokio::task::spawn_blocking(move || -> Result<(), PlanError> {
            let mut chunk = Vec::with_capacity(RECORDS_PER_TASK);
            let hidden = ProgressBar::hidden();
            let mut recheck = Recheck::new(&plan);
            source.read(&hidden, &mut |line, row| {
                let Mapped::Message(mut m) = row else {
                    return Ok(());
                };
                m.position = recheck
                    .message(&m)
                    .map_err(|what| changed(source.name(), line, what))?;
                chunk.push(Record::Message(m));
                if chunk.len() == RECORDS_PER_TASK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(RECORDS_PER_TASK));
                    if tx.blocking_send(full).is_err() {
                        return Err(writer_gone(source.name()));
                    }
                }
                Ok(())
            })?;
            recheck.finish().map_err(|what| changed(source.name(), 0, what))?;
            // The rows matched pass 1's; nor may the file have changed while they were read.
            source.check_unchanged()?;
            if !chunk.is_empty() && tx.blocking_send(chunk).is_err() {
                return Err(writer_gone(source.name()));
            }
            Ok(())
        })
    };
    let written = async {
        while let Some(chunk) = rx.recv().await {
            writer.push(chunk).await?;
        }
        writer.wait_all().await
    }
    .await;
    // Dropping the receiver lets a reader blocked on a full channel finish.
    drop(rx);
    let read = reader.await?;
    written?;
    read?;

    for chunk in plan.conversations.chunks(RECORDS_PER_TASK) {
        writer
            .push(chunk.iter().cloned().map(Record::Conversation).collect())
            .await?;
    }
    writer.wait_all().await?;
    Ok(writer.requests())
}

/// Pass 2 stops reading when the writer has failed; the writer's error is the one shown.
fn writer_gone(source: &str) -> PlanError {
    PlanError {
        origin: Origin {
            source: source.to_string(),
            line: 0,
        },
        reason: "stopped reading: writing failed".into(),
    }
}

/// The import's final report.
#[derive(Debug, Clone)]
pub struct StreamReport {
    pub source: String,
    pub dry_run: bool,
    pub conversations: usize,
    pub messages: usize,
    pub summary: ReadSummary,
    pub per_status: Vec<(Status, usize)>,
    pub requests: u32,
    pub elapsed: Duration,
}

impl StreamReport {
    pub fn new(source: &dyn Source, plan: &StreamPlan, dry_run: bool) -> Self {
        StreamReport {
            source: source.name().to_string(),
            dry_run,
            conversations: plan.conversations.len(),
            messages: plan.message_count(),
            summary: plan.summary.clone(),
            per_status: plan::per_status(&plan.conversations),
            requests: 0,
            elapsed: Duration::ZERO,
        }
    }
}

impl std::fmt::Display for StreamReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "source: {}", self.source)?;
        for note in &self.summary.notes {
            writeln!(f, "{note}")?;
        }
        let done = if self.dry_run { "valid" } else { "imported" };
        writeln!(f, "{:<16} {:>10} {:>10} {:>10}", "table", "read", done, "skipped")?;
        for (table, n) in [("conversations", self.conversations), ("messages", self.messages)] {
            writeln!(f, "{table:<16} {n:>10} {n:>10} {:>10}", 0)?;
        }
        for s in &self.summary.skipped {
            writeln!(
                f,
                "{:<16} {:>10} {:>10} {:>10}  ({})",
                s.table, s.rows, 0, s.rows, s.reason
            )?;
        }
        let statuses: Vec<String> = self
            .per_status
            .iter()
            .map(|(s, n)| format!("{} {n}", s.as_str()))
            .collect();
        writeln!(f, "conversations per status: {}", statuses.join(", "))?;
        let secs = self.elapsed.as_secs_f64();
        let rows = (self.conversations + self.messages) as f64;
        write!(f, "took {secs:.2} s ({:.0} rows/s", rows / secs.max(1e-9))?;
        if self.dry_run {
            write!(f, "); dry run: nothing written")
        } else {
            write!(f, ", {} BatchWriteItem requests)", self.requests)
        }
    }
}

/// The pass 1 progress bar: bytes of the source.
pub fn bytes_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes}, {bytes_per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn conversation(id: u64, phone: &str) -> Mapped {
        Mapped::Conversation(crate::plan::tests::conversation(id, phone))
    }

    fn message(id: u64, conversation_id: u64, secs: i64) -> Mapped {
        Mapped::Message(crate::plan::tests::message(id, conversation_id, secs))
    }

    #[test]
    fn positions_counts_and_summaries_match_the_in_memory_plan() {
        let rows = vec![
            (1, conversation(1, "a")),
            (2, conversation(2, "b")),
            (3, message(30, 1, 100)),
            (4, message(10, 1, 200)),
            (5, message(20, 1, 100)),
            (6, message(5, 2, 50)),
        ];
        let plan = plan(&Rows(rows.clone()), &ProgressBar::hidden()).unwrap();
        let (conversations, messages) = split(rows);
        let expected = crate::plan::ImportPlan::build(conversations, messages).unwrap();
        assert_eq!(plan.conversations, expected.conversations);
        for m in &expected.messages {
            let position = plan.index_of(m.id).map(|i| plan.positions[i].line_or_position);
            assert_eq!(position, Some(m.position), "message {}", m.id);
        }
        assert_eq!(plan.max_ids(), (2, 30));
    }

    #[test]
    fn orphans_and_duplicates_are_reported_at_their_line() {
        let e = plan(
            &Rows(vec![
                (1, conversation(1, "a")),
                (7, message(1, 1, 1)),
                (9, message(2, 9, 1)),
                (8, message(3, 8, 1)),
            ]),
            &ProgressBar::hidden(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "rows.sql:8: conversation_id 8 is not among the imported conversations"
        );
        let e = plan(
            &Rows(vec![
                (1, conversation(1, "a")),
                (7, message(4, 1, 1)),
                (9, message(4, 1, 2)),
            ]),
            &ProgressBar::hidden(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "rows.sql:9: message id 4 already appears at rows.sql:7"
        );
        let e = plan(
            &Rows(vec![(1, conversation(1, "a")), (2, conversation(2, "a"))]),
            &ProgressBar::hidden(),
        )
        .unwrap_err();
        assert_eq!(e.origin.line, 2);
    }

    type Located<T> = Vec<(Origin, T)>;

    fn split(rows: Vec<(u64, Mapped)>) -> (Located<Conversation>, Located<Message>) {
        let origin = |line| Origin {
            source: "rows.sql".into(),
            line,
        };
        let (mut cs, mut ms) = (Vec::new(), Vec::new());
        for (line, row) in rows {
            match row {
                Mapped::Conversation(c) => cs.push((origin(line), c)),
                Mapped::Message(m) => ms.push((origin(line), m)),
            }
        }
        (cs, ms)
    }
}
