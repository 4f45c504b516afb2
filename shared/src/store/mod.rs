//! The only code that talks to DynamoDB: one method per access pattern
//! (`docs/DESIGN.md` lists them with their cost).

mod bulk;
mod read;
mod schema;
mod write;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ConsumedCapacity;

pub use bulk::Record;
pub use read::{ConversationPage, ListQuery, MessagePage, page_positions};
pub use schema::{EnsureTableError, TableCheck, TableMismatch, description_lines};

/// The store over one table. Cheap to clone: the SDK client is shared.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Store {
        Store {
            client,
            table: table.into(),
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// What a read cost, from what DynamoDB answered (not from what the code meant to read).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ReadCost {
    /// Requests sent to DynamoDB (SDK retries of one request not counted).
    pub round_trips: u32,
    /// Items DynamoDB read: `ScannedCount` of queries, items returned by gets.
    pub items_read: u32,
    /// Read capacity units consumed, as reported by `ConsumedCapacity`.
    pub capacity_units: f64,
    /// Time spent waiting for DynamoDB (request sent to answer read, SDK retries included).
    pub dynamodb_time: Duration,
}

impl ReadCost {
    fn add(&mut self, items_read: usize, capacity: Option<&ConsumedCapacity>, started: Instant) {
        self.dynamodb_time += started.elapsed();
        self.round_trips += 1;
        self.items_read += u32::try_from(items_read).unwrap_or(u32::MAX);
        self.capacity_units += capacity.and_then(|c| c.capacity_units()).unwrap_or(0.0);
    }
}

/// Full-jitter exponential back-off for retries the store does itself (transaction
/// conflicts, unprocessed batch items); the SDK retries throttled requests on its own.
pub(crate) async fn backoff(attempt: u32) {
    let cap_ms = 5u64.saturating_mul(1 << attempt.min(6)).min(200);
    tokio::time::sleep(Duration::from_millis(fastrand::u64(1..=cap_ms))).await;
}
