//! The read store: one method per read access pattern (`docs/DESIGN.md` lists them with
//! their cost). Writes are the `writer` crate's.

mod paging;
mod poll;
mod read;
mod wire;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ConsumedCapacity;

use crate::error::StoreError;

pub use poll::{ChangedConversation, Changes, INDEX_POLL_MARGIN, MESSAGE_POLL_MARGIN, SAME_SECOND_MARGIN};
pub use read::{ConversationPage, ListQuery, MessagePage, ReadError, page_positions};

/// The read store over one table: the functions' access patterns (and the reads
/// `convo-admin` needs). Cheap to clone: the SDK client is shared by the clones. Writes
/// are the `writer` crate's, which the functions do not link.
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

/// Full-jitter exponential back-off for retries the store and the writer do themselves
/// (transaction conflicts, unprocessed batch items); the SDK retries throttled requests on
/// its own.
pub async fn backoff(attempt: u32) {
    let cap_ms = 5u64.saturating_mul(1 << attempt.min(6)).min(200);
    tokio::time::sleep(Duration::from_millis(fastrand::u64(1..=cap_ms))).await;
}
