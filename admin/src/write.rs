//! Pass 2 of every import, and the writes: checks the table (phone numbers, conversations
//! that lived on since), raises the id counters past the imported ids (before any row is
//! written, so a live writer never draws one), then reads the source again and writes its
//! messages in streaming chunks, then the conversations — a conversation item is what makes
//! its messages visible, so an interrupted import never shows a conversation whose messages
//! are missing, and re-running it completes it. Concurrent BatchWriteItem requests.

use std::sync::Arc;

use indicatif::ProgressBar;
use shared::Store;
use shared::model::Conversation;
use shared::store::Record;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::plan::{Plan, Recheck};
use crate::source::{Kind, Mapped, Origin, PlanError, Source};

/// Records per task; each task sends BatchWriteItem requests of 25 items.
pub const RECORDS_PER_TASK: usize = 100;
/// BatchWriteItem requests in flight at once.
const CONCURRENCY: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "phone number {phone:?} of conversation {id} already belongs to conversation {owner} in the table"
    )]
    PhoneConflict { phone: String, id: u64, owner: u64 },
    #[error(
        "conversation {id} already exists in the table with other data ({what}); \
         an import only adds conversations or rewrites them unchanged"
    )]
    ConversationConflict { id: u64, what: String },
    #[error(transparent)]
    Store(#[from] shared::StoreError),
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

/// Pass 2 and the writes: the table checks, the id counters, then messages as the source is
/// read again, then conversations. Returns the number of BatchWriteItem requests.
pub async fn write(
    store: &Store,
    source: Arc<dyn Source>,
    plan: Arc<Plan>,
    bar: &ProgressBar,
) -> Result<u32, anyhow::Error> {
    // A file changed since pass 1 is refused before anything is written.
    source.check_unchanged()?;
    check_against_table(store, &plan.conversations).await?;
    // Counters first: a conversation or message created by a live writer while the import
    // runs must never draw an id the import is about to write (it would be overwritten).
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
                    .map_err(|what| changed(source.origin(Kind::Message, line), what))?;
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
fn writer_gone(source: &dyn Source) -> PlanError {
    PlanError {
        origin: source.origin(Kind::Message, 0),
        reason: "stopped reading: writing failed".into(),
    }
}

/// What every import checks before writing: the table may hold conversations already (an
/// earlier import, live data), and an import must neither move a phone number to another
/// conversation nor overwrite a conversation that has lived on since (new messages,
/// another status): re-running an import is fine only while nothing has changed.
pub async fn check_against_table(store: &Store, conversations: &[Conversation]) -> Result<(), ImportError> {
    let phones: Vec<String> = conversations.iter().map(|c| c.phone_number.clone()).collect();
    let owners = store.phone_owners(&phones).await?;
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
    let existing = store.get_conversations(&ids).await?;
    for c in conversations {
        if let Some(current) = existing.get(&c.id)
            && current != c
        {
            let what = if current.phone_number != c.phone_number {
                format!("phone number {:?}", current.phone_number)
            } else {
                format!(
                    "{} messages, status {}",
                    current.message_count,
                    current.status.as_str()
                )
            };
            return Err(ImportError::ConversationConflict { id: c.id, what });
        }
    }
    Ok(())
}

/// Writes chunks of records with at most CONCURRENCY chunks in flight, advancing the
/// progress bar by records.
pub struct BatchWriter {
    store: Store,
    bar: ProgressBar,
    tasks: JoinSet<Result<u32, shared::StoreError>>,
    requests: u32,
}

impl BatchWriter {
    pub fn new(store: &Store, bar: &ProgressBar) -> Self {
        BatchWriter {
            store: store.clone(),
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
        let store = self.store.clone();
        let bar = self.bar.clone();
        self.tasks.spawn(async move {
            let n = store.put_records(&chunk).await?;
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
