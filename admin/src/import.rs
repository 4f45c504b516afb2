//! Writes an import plan: checks phone numbers against the table, then writes messages
//! and conversations in concurrent BatchWriteItem requests with a progress bar, then
//! raises the id counters past the imported ids.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use shared::Store;
use shared::model::Status;
use shared::store::Record;
use tokio::task::JoinSet;

use crate::plan::ImportPlan;

/// Records per task; each task sends BatchWriteItem requests of 25 items.
const RECORDS_PER_TASK: usize = 100;
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
    // The table may hold conversations already (an earlier import, live data): a phone
    // number must stay with the conversation that has it.
    let phones: Vec<String> = plan
        .conversations
        .iter()
        .map(|c| c.phone_number.clone())
        .collect();
    let owners = store.phone_owners(&phones).await?;
    for c in &plan.conversations {
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

    // Nor may it overwrite a conversation that lives on in the table (new messages,
    // another number): re-running an import is fine only while nothing has changed.
    let ids: Vec<u64> = plan.conversations.iter().map(|c| c.id).collect();
    let existing = store.get_conversations(&ids).await?;
    for c in &plan.conversations {
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

    let records: Vec<Record> = plan.records().collect();
    let mut requests = 0;
    // Messages strictly before conversations (see ImportPlan::records): the conversation
    // tasks start only when every message task has finished.
    let split = plan.messages.len();
    for part in [&records[..split], &records[split..]] {
        let mut tasks = JoinSet::new();
        for chunk in part.chunks(RECORDS_PER_TASK) {
            if tasks.len() >= CONCURRENCY {
                requests += join_one(&mut tasks).await?;
            }
            let store = store.clone();
            let chunk = chunk.to_vec();
            let bar = bar.clone();
            tasks.spawn(async move {
                let n = store.put_records(&chunk).await?;
                bar.inc(chunk.len() as u64);
                Ok::<u32, shared::StoreError>(n)
            });
        }
        while !tasks.is_empty() {
            requests += join_one(&mut tasks).await?;
        }
    }
    let (max_conversation, max_message) = plan.max_ids();
    store.raise_id_counters(max_conversation, max_message).await?;
    bar.finish_and_clear();
    Ok(ImportReport {
        conversations: plan.conversations.len(),
        messages: plan.messages.len(),
        per_status: plan.per_status(),
        requests,
        elapsed: started.elapsed(),
    })
}

async fn join_one(tasks: &mut JoinSet<Result<u32, shared::StoreError>>) -> Result<u32, ImportError> {
    match tasks.join_next().await {
        Some(Ok(result)) => Ok(result?),
        Some(Err(join)) => std::panic::resume_unwind(join.into_panic()),
        None => Ok(0),
    }
}
