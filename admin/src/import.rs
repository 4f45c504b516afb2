//! Writes an import plan: checks phone numbers against the table, raises the id counters
//! past the imported ids (before any row is written, so a live writer never draws one),
//! then writes messages and conversations in concurrent BatchWriteItem requests with a
//! progress bar.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use shared::Store;
use shared::model::{Conversation, Status};
use shared::store::Record;
use tokio::task::JoinSet;

use crate::plan::ImportPlan;

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

#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    pub conversations: usize,
    pub messages: usize,
    pub per_status: Vec<(Status, usize)>,
    pub requests: u32,
    pub elapsed: Duration,
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        writeln!(f, "conversations: {}", self.conversations)?;
        for (status, n) in &self.per_status {
            writeln!(f, "  {:<14} {n}", status.as_str())?;
        }
        writeln!(f, "messages:      {}", self.messages)?;
        write!(
            f,
            "took {secs:.2} s ({:.0} rows/s, {} BatchWriteItem requests)",
            (self.conversations + self.messages) as f64 / secs.max(1e-9),
            self.requests
        )
    }
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

pub async fn write_plan(
    store: &Store,
    plan: &ImportPlan,
    bar: &ProgressBar,
) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    check_against_table(store, &plan.conversations).await?;
    // Counters first: a conversation or message created by a live writer while the import
    // runs must never draw an id the import is about to write (it would be overwritten).
    let (max_conversation, max_message) = plan.max_ids();
    store.raise_id_counters(max_conversation, max_message).await?;
    let records: Vec<Record> = plan.records().collect();
    // Messages strictly before conversations (see ImportPlan::records): the conversation
    // chunks start only when every message chunk has been written.
    let split = plan.messages.len();
    let mut writer = BatchWriter::new(store, bar);
    for part in [&records[..split], &records[split..]] {
        for chunk in part.chunks(RECORDS_PER_TASK) {
            writer.push(chunk.to_vec()).await?;
        }
        writer.wait_all().await?;
    }
    bar.finish_and_clear();
    Ok(ImportReport {
        conversations: plan.conversations.len(),
        messages: plan.messages.len(),
        per_status: plan.per_status(),
        requests: writer.requests(),
        elapsed: started.elapsed(),
    })
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
