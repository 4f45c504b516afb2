//! The only code that talks to DynamoDB: one method per access pattern
//! (`docs/DESIGN.md` lists them with their cost).

mod bulk;
mod change;
mod paging;
mod poll;
mod read;
mod schema;
mod size;
mod stamp;
mod wire;
mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ConsumedCapacity;

use crate::error::StoreError;

pub use bulk::Record;
pub use change::{Change, ChangeCost, ChangeOutcome};
pub use poll::{ChangedConversation, Changes, INDEX_POLL_MARGIN, MESSAGE_POLL_MARGIN, SAME_SECOND_MARGIN};
pub use read::{ConversationPage, ListQuery, MessagePage, ReadError, page_positions};
pub use schema::{EnsureTableError, TableCheck, TableMismatch, description_lines, projection_line};
pub use size::{MAX_ITEM_BYTES, check_message_size, conversation_item, message_item};
pub use stamp::RESTAMP_AFTER;

/// The store over one table. Cheap to clone: the SDK client and the write counters are
/// shared by the clones.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
    contention: Arc<ContentionCounters>,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Store {
        Store {
            client,
            table: table.into(),
            contention: Arc::default(),
        }
    }

    /// How often this store's writes met other writers (all clones together).
    pub fn contention(&self) -> Contention {
        let c = &self.contention;
        Contention {
            transaction_conflicts: c.transaction_conflicts.load(Ordering::Relaxed),
            lost_races: c.lost_races.load(Ordering::Relaxed),
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// What a store's writes met from other writers, as DynamoDB answered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Contention {
    /// Transactions DynamoDB cancelled because another one held the same items
    /// (`TransactionConflict`, or `TransactionInProgressException`): retried with back-off.
    pub transaction_conflicts: u64,
    /// Appends whose position another append took first (the count condition failed):
    /// retried at once at the next position.
    pub lost_races: u64,
}

#[derive(Debug, Default)]
struct ContentionCounters {
    transaction_conflicts: AtomicU64,
    lost_races: AtomicU64,
}

impl ContentionCounters {
    fn conflict(&self) {
        self.transaction_conflicts.fetch_add(1, Ordering::Relaxed);
    }

    fn lost_race(&self) {
        self.lost_races.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a read cost, from what DynamoDB answered (not from what the code meant to read).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ReadCost {
    /// Requests sent to DynamoDB (SDK retries of one request not counted).
    pub round_trips: u32,
    /// Round trips of latency: requests that waited one after another (requests sent at
    /// the same time count once).
    pub sequential_trips: u32,
    /// Items DynamoDB read: `ScannedCount` of queries, items returned by gets.
    pub items_read: u32,
    /// Read capacity units consumed, as reported by `ConsumedCapacity`.
    pub capacity_units: f64,
    /// Time spent waiting for DynamoDB (request sent to answer read, SDK retries included).
    pub dynamodb_time: Duration,
}

impl ReadCost {
    fn add(&mut self, items_read: usize, capacity: Option<&ConsumedCapacity>, started: Instant) {
        self.add_units(items_read, capacity.and_then(|c| c.capacity_units()), started);
    }

    /// `add` with the read units as a number (a Query answer read from the wire).
    fn add_units(&mut self, items_read: usize, capacity_units: Option<f64>, started: Instant) {
        self.dynamodb_time += started.elapsed();
        self.round_trips += 1;
        self.sequential_trips += 1;
        self.items_read = self
            .items_read
            .saturating_add(u32::try_from(items_read).unwrap_or(u32::MAX));
        self.capacity_units += capacity_units.unwrap_or(0.0);
    }

    /// A request's outcome: a failure (after the SDK's retries) read nothing, but it was a
    /// round trip and its wait is part of the request's, so it is counted before the error
    /// is classified. Successes are counted by the caller, which knows what was read.
    fn answered<T, E>(
        &mut self,
        result: Result<T, aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
        started: Instant,
    ) -> Result<T, StoreError>
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        result.map_err(|e| {
            self.add(0, None, started);
            crate::error::classify(e)
        })
    }

    /// The cost of two requests sent at the same time: their items and units add up, the
    /// wait is the longer of the two.
    fn alongside(self, other: ReadCost) -> ReadCost {
        ReadCost {
            round_trips: self.round_trips + other.round_trips,
            sequential_trips: self.sequential_trips.max(other.sequential_trips),
            items_read: self.items_read.saturating_add(other.items_read),
            capacity_units: self.capacity_units + other.capacity_units,
            dynamodb_time: self.dynamodb_time.max(other.dynamodb_time),
        }
    }
}

/// Full-jitter exponential back-off for retries the store does itself (transaction
/// conflicts, unprocessed batch items); the SDK retries throttled requests on its own.
pub(crate) async fn backoff(attempt: u32) {
    let cap_ms = 5u64.saturating_mul(1 << attempt.min(6)).min(200);
    tokio::time::sleep(Duration::from_millis(fastrand::u64(1..=cap_ms))).await;
}
