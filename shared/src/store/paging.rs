//! The one way the store runs a Query on a request path: DynamoDB stops a Query after 1 MB
//! of items (before `Limit` is reached) and says so with `LastEvaluatedKey`; a page built
//! from the first answer alone would silently lose rows whenever items are large (64 KB
//! legacy texts, a conversation item carrying its newest message). So the query is
//! followed from that key until it has what the page needs or its key range ends: one
//! round trip per started MB of the page, never more items than asked for.

use std::time::Instant;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;

use super::ReadCost;
use crate::error::StoreError;
use crate::item::Item;

/// Runs `query` (everything set but `Limit` and `ExclusiveStartKey`, which this sets) from
/// `start` (a page cursor's key, or the beginning) until `want` items are in or the key
/// range is exhausted, adding each answer's cost to `cost`. Each follow-up asks only for
/// the items still missing, so the items read stay ≤ `want`.
pub(super) async fn query_items(
    query: QueryFluentBuilder,
    start: Option<Item>,
    want: usize,
    cost: &mut ReadCost,
) -> Result<Vec<Item>, StoreError> {
    let mut items: Vec<Item> = Vec::new();
    let mut start = start;
    while items.len() < want {
        let missing = want - items.len();
        let started = Instant::now();
        let sent = query
            .clone()
            .limit(i32::try_from(missing).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        let out = cost.answered(sent, started)?;
        cost.add(
            out.scanned_count().max(out.count()) as usize,
            out.consumed_capacity(),
            started,
        );
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    Ok(items)
}
