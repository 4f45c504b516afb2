//! Every write to the table: its schema (`ensure_table`), the import's batched records,
//! the changes that bring one conversation in step with its source (`convo-admin sync` and
//! catch-up imports), the sync's checkpoint and the conversations it set aside
//! (`quarantine`), a conversation's whole copy replaced (`replace`), the id counters, the write stamps the dashboard's polls rely on and the
//! item-size checks. Used by `convo-admin`, the tests and the bench; the Lambda functions
//! only read (`shared`) and never link this crate.

mod change;
mod counters;
mod pages;
mod quarantine;
mod records;
mod replace;
mod schema;
mod size;
mod stamp;
pub mod stats;
pub mod tally;
mod transact;
pub mod waiting;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client;
use shared::Store;

pub use change::{Change, ChangeCost, ChangeOutcome};
pub use quarantine::{Quarantine, quarantine_from_item, quarantine_to_item};
pub use records::Record;
pub use replace::{Claim, ReplaceOutcome, Replaced};
pub use schema::{
    EnsureTableError, TableCheck, TableMismatch, description_lines, projection_line, spec_lines,
};
pub use size::{MAX_ITEM_BYTES, check_message_size, conversation_item, message_item};
pub use stamp::Stamp;
pub use transact::{TxOutcome, build_error};

/// The writer of one table. Cheap to clone: the SDK client and the conflict counter are
/// shared by the clones.
#[derive(Debug, Clone)]
pub struct Writer {
    /// The table's read store: its client and name, and the reads writes build on.
    store: Store,
    transaction_conflicts: Arc<AtomicU64>,
}

/// What a write of a conversation item adds to its transaction for the figures derived
/// from the conversation items: the tally's change (`tally`) and the daily statistics'
/// (`stats`, the item's share going from `before` to `after`).
pub fn derived_updates(
    table_name: &str,
    tally_change: &shared::model::Tally,
    before: Option<&shared::stats::StatsShare>,
    after: Option<&shared::stats::StatsShare>,
    now: jiff::Timestamp,
) -> Result<Vec<aws_sdk_dynamodb::types::TransactWriteItem>, shared::StoreError> {
    let mut items: Vec<_> = tally::update(table_name, tally_change)?.into_iter().collect();
    items.extend(stats::updates(table_name, before, after, now)?);
    Ok(items)
}

impl Writer {
    pub fn new(client: Client, table: impl Into<String>) -> Writer {
        Writer::of(&Store::new(client, table))
    }

    /// The writer of the table `store` reads, through the same SDK client.
    pub fn of(store: &Store) -> Writer {
        Writer {
            store: store.clone(),
            transaction_conflicts: Arc::default(),
        }
    }

    /// The same table's reads.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Transactions DynamoDB cancelled because another one held the same items
    /// (`TransactionConflict`, or `TransactionInProgressException`), all clones together.
    pub fn transaction_conflicts(&self) -> u64 {
        self.transaction_conflicts.load(Ordering::Relaxed)
    }

    pub fn table_name(&self) -> &str {
        self.store.table_name()
    }

    pub fn client(&self) -> &Client {
        self.store.client()
    }

    fn conflict(&self) {
        self.transaction_conflicts.fetch_add(1, Ordering::Relaxed);
    }
}
