//! Pass 2 of every import, and the writes: compares the plan with the table (phone numbers;
//! conversations already there), raises the id counters past the imported ids (before any
//! row is written, so a live writer never draws one), then reads the source again and writes
//! the messages of new conversations in streaming chunks, then those conversations — a
//! conversation item is what makes its messages visible, so an interrupted import never
//! shows a conversation whose messages are missing, and re-running it completes it.
//! Concurrent BatchWriteItem requests.
//!
//! A conversation the table already holds is a catch-up: an older import of the same
//! database. Unchanged, it is skipped; changed, only the difference is written, by the rule
//! `sync` uses (`reconcile::change`, `Writer::apply_change`), and after the same checks: the
//! table's copy may hold nothing the source lacks (a message, a later change), so data
//! written since by other means is never overwritten. Those checks run before anything is
//! written; the new messages of a changed conversation are held in memory until pass 2 has
//! read them all.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use indicatif::ProgressBar;
use shared::model::{Conversation, MediaType, Message, Placed, SenderType};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use writer::Writer;
use writer::{ChangeOutcome, Record};

use crate::plan::{Plan, Recheck};
use crate::reconcile::{self, Refusal};
use crate::source::{Kind, Mapped, Origin, PlanError, Source};

/// Records per task; each task sends BatchWriteItem requests of 25 items.
pub const RECORDS_PER_TASK: usize = 100;
/// BatchWriteItem requests in flight at once.
const CONCURRENCY: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "phone number {} of conversation {id} already belongs to conversation {owner} in the table",
        shared::model::mask_phone(.phone)
    )]
    PhoneConflict { phone: String, id: u64, owner: u64 },
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(
        "conversation {0} changed in the table while the import ran; nothing of the import was \
         shown for it: re-run the import"
    )]
    ChangedMeanwhile(u64),
    #[error(transparent)]
    Writer(#[from] shared::StoreError),
}

/// Pass 2 read something else than pass 1: nothing more is written. The messages written so
/// far stay out of sight, as no conversation item of this import points at them yet.
fn changed(origin: Origin, what: String) -> PlanError {
    PlanError {
        origin,
        reason: format!(
            "{what}: the file changed between the two reads; stopped before writing the \
             conversations (the messages written so far are not shown); re-run the import \
             with an unchanged file"
        ),
    }
}

/// What an import wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub requests: u32,
    /// Conversations the table held, brought up to date / already up to date.
    pub updated: usize,
    pub unchanged: usize,
    /// Messages the updated conversations gained, and those moved up for older ones.
    pub added: u64,
    pub moved: u64,
}

/// Pass 2 and the writes: the table checks, the id counters, then messages of new
/// conversations as the source is read again, the catch-up changes, the new conversations.
pub async fn write(
    writer: &Writer,
    source: Arc<dyn Source>,
    plan: Arc<Plan>,
    bar: &ProgressBar,
) -> Result<Written, anyhow::Error> {
    // A file changed since pass 1 is refused before anything is written.
    source.check_unchanged()?;
    let table = Arc::new(compare_with_table(writer, &plan).await?);
    // Counters first: a conversation or message created by a live writer while the import
    // runs must never draw an id the import is about to write (it would be overwritten).
    let (max_conversation, max_message) = plan.max_ids();
    writer
        .raise_id_counters(max_conversation, max_message)
        .await
        .map_err(ImportError::from)?;
    let mut batches = BatchWriter::new(writer, bar);

    // The source is read on a blocking thread; chunks of messages come over a bounded
    // channel, so reading waits for writing and memory stays bounded.
    let (tx, mut rx) = mpsc::channel::<Vec<Record>>(4);
    let reader = {
        let plan = plan.clone();
        let table = table.clone();
        tokio::task::spawn_blocking(move || -> Result<HashMap<u64, Vec<Message>>, PlanError> {
            let mut chunk = Vec::with_capacity(RECORDS_PER_TASK);
            let mut catch_up: HashMap<u64, Vec<Message>> = HashMap::new();
            let hidden = ProgressBar::hidden();
            let mut recheck = Recheck::new(&plan);
            source.read(&hidden, &mut |line, row| {
                let Mapped::Message(mut m) = row else {
                    return Ok(());
                };
                m.position = recheck
                    .message(&m)
                    .map_err(|what| changed(source.origin(Kind::Message, line), what))?;
                if let Some(c) = table.catch_up.get(&m.conversation_id) {
                    if m.position >= c.from {
                        catch_up.entry(m.conversation_id).or_default().push(m);
                    }
                    return Ok(());
                }
                if !table.new.contains(&m.conversation_id) {
                    return Ok(());
                }
                chunk.push(Record::Message(m));
                if chunk.len() == RECORDS_PER_TASK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(RECORDS_PER_TASK));
                    if tx.blocking_send(full).is_err() {
                        return Err(writer_gone(source.as_ref()));
                    }
                }
                Ok(())
            })?;
            recheck
                .finish()
                .map_err(|what| changed(source.origin(Kind::Message, 0), what))?;
            // The rows matched pass 1's; nor may the file have changed while they were read.
            source.check_unchanged()?;
            if !chunk.is_empty() && tx.blocking_send(chunk).is_err() {
                return Err(writer_gone(source.as_ref()));
            }
            Ok(catch_up)
        })
    };
    let written = async {
        while let Some(chunk) = rx.recv().await {
            batches.push(chunk).await?;
        }
        batches.wait_all().await
    }
    .await;
    // Dropping the receiver lets a reader blocked on a full channel finish.
    drop(rx);
    let read = reader.await?;
    written?;
    let mut catch_up = read?;

    let mut result = Written {
        unchanged: table.unchanged,
        ..Written::default()
    };
    for (c, known) in plan
        .conversations
        .iter()
        .filter_map(|c| table.catch_up.get(&c.id).map(|known| (c, known)))
    {
        let desired = catch_up.remove(&c.id).unwrap_or_default();
        let Some(change) =
            reconcile::change(c, Some(&known.current), &known.tail, desired).map_err(ImportError::from)?
        else {
            result.unchanged += 1;
            continue;
        };
        match writer.apply_change(&change).await.map_err(ImportError::from)? {
            ChangeOutcome::Applied(cost) => {
                result.requests += cost.transactions + cost.batch_requests;
                result.updated += 1;
                let moved = change.moved();
                result.added += change.messages.len() as u64 - moved;
                result.moved += moved;
                bar.inc(change.messages.len() as u64 + 1);
            }
            ChangeOutcome::Conflict => return Err(ImportError::ChangedMeanwhile(c.id).into()),
        }
    }

    let new: Vec<Record> = plan
        .conversations
        .iter()
        .filter(|c| table.new.contains(&c.id))
        .cloned()
        .map(Record::Conversation)
        .collect();
    for chunk in new.chunks(RECORDS_PER_TASK) {
        batches.push(chunk.to_vec()).await?;
    }
    batches.wait_all().await?;
    result.requests += batches.requests();
    Ok(result)
}

/// What the table holds of the planned conversations.
#[derive(Debug, Default)]
pub struct TableState {
    /// Not in the table: written whole.
    pub new: HashSet<u64>,
    /// In the table with other data: brought up to date by `change`.
    pub catch_up: HashMap<u64, CatchUp>,
    /// In the table as planned.
    pub unchanged: usize,
}

/// A conversation an older import put in the table, and where it starts to differ.
#[derive(Debug)]
pub struct CatchUp {
    current: Conversation,
    /// The table's messages from the first position that differs from the plan, newest first.
    tail: Vec<Placed>,
    /// That position: the planned messages from here on are the change's.
    from: u64,
}

/// What every import checks before writing, and what it finds: the table may hold
/// conversations already (an earlier import, live data). An import must neither move a
/// phone number to another conversation nor overwrite data the source does not have (a
/// message, a later change): `reconcile::change` is run on the planned messages' places here,
/// so a refusal comes before anything is written.
pub async fn compare_with_table(writer: &Writer, plan: &Plan) -> Result<TableState, ImportError> {
    let conversations = &plan.conversations;
    let phones: Vec<String> = conversations.iter().map(|c| c.phone_number.clone()).collect();
    let owners = writer.store().phone_owners(&phones).await?;
    for c in conversations {
        if let Some(&owner) = owners.get(&c.phone_number)
            && owner != c.id
        {
            return Err(ImportError::PhoneConflict {
                phone: c.phone_number.clone(),
                id: c.id,
                owner,
            });
        }
    }
    let ids: Vec<u64> = conversations.iter().map(|c| c.id).collect();
    let mut existing = writer.store().get_conversations(&ids).await?;
    let differing: HashSet<u64> = conversations
        .iter()
        .filter(|c| {
            existing
                .get(&c.id)
                .is_some_and(|current| !current.same_content(c))
        })
        .map(|c| c.id)
        .collect();
    let mut placed = plan.placed_in(&differing);
    let mut state = TableState::default();
    for c in conversations {
        let Some(current) = existing.remove(&c.id) else {
            state.new.insert(c.id);
            continue;
        };
        if !differing.contains(&c.id) {
            state.unchanged += 1;
            continue;
        }
        let run = placed.remove(&c.id).unwrap_or_default();
        // Down from the newest message to the first one already at its planned place.
        let tail = writer
            .message_tail(c.id, current.message_count, |p| {
                run.get(p.position as usize).map(|q| q.id) != Some(p.id)
            })
            .await?;
        let from = current.message_count - tail.len() as u64;
        // The same rule as the write, on the planned places alone (texts are read in pass 2).
        let stubs = run.iter().skip(from as usize).map(|p| stub(c.id, p)).collect();
        reconcile::change(c, Some(&current), &tail, stubs)?;
        state.catch_up.insert(c.id, CatchUp { current, tail, from });
    }
    Ok(state)
}

/// A planned message by its place alone.
fn stub(conversation_id: u64, p: &Placed) -> Message {
    Message {
        id: p.id,
        conversation_id,
        position: p.position,
        sender_type: SenderType::Customer,
        message_text: String::new(),
        audio_url: None,
        media_type: MediaType::Text,
        context_used: None,
        confidence_score: None,
        created_at: p.created_at,
        whatsapp_id: None,
    }
}

/// Pass 2 stops reading when the writer has failed; the writer's error is the one shown.
fn writer_gone(source: &dyn Source) -> PlanError {
    PlanError {
        origin: source.origin(Kind::Message, 0),
        reason: "stopped reading: writing failed".into(),
    }
}

/// Writes chunks of records with at most CONCURRENCY chunks in flight, advancing the
/// progress bar by records.
pub struct BatchWriter {
    writer: Writer,
    bar: ProgressBar,
    tasks: JoinSet<Result<u32, shared::StoreError>>,
    requests: u32,
}

impl BatchWriter {
    pub fn new(writer: &Writer, bar: &ProgressBar) -> Self {
        BatchWriter {
            writer: writer.clone(),
            bar: bar.clone(),
            tasks: JoinSet::new(),
            requests: 0,
        }
    }

    /// Starts writing a chunk (RECORDS_PER_TASK records is a good size), first waiting
    /// for a slot.
    pub async fn push(&mut self, chunk: Vec<Record>) -> Result<(), ImportError> {
        while self.tasks.len() >= CONCURRENCY {
            self.join_one().await?;
        }
        let writer = self.writer.clone();
        let bar = self.bar.clone();
        self.tasks.spawn(async move {
            let n = writer.put_records(&chunk).await?;
            bar.inc(chunk.len() as u64);
            Ok(n)
        });
        Ok(())
    }

    /// Waits until every chunk pushed so far is written.
    pub async fn wait_all(&mut self) -> Result<(), ImportError> {
        while !self.tasks.is_empty() {
            self.join_one().await?;
        }
        Ok(())
    }

    /// BatchWriteItem requests sent so far.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    async fn join_one(&mut self) -> Result<(), ImportError> {
        match self.tasks.join_next().await {
            Some(Ok(result)) => self.requests += result?,
            Some(Err(join)) => std::panic::resume_unwind(join.into_panic()),
            None => {}
        }
        Ok(())
    }
}
