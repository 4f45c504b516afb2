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
use super::wire::{Pairs, QueryPage, TakeBody};
use crate::error::StoreError;
use crate::item::Item;

/// Items an answer's list is made room for at most before it is read: an inbox page of
/// 100 and its extra item. Larger pages grow the list as they read.
const ROOM: usize = 128;

/// Runs `query` (everything set but `Limit` and `ExclusiveStartKey`, which this sets) from
/// `start` (a page cursor's key, or the beginning) until `want` items are in or the key
/// range is exhausted, adding each answer's cost to `cost`. Each follow-up asks only for
/// the items still missing, so the items read stay ≤ `want`. Answers are read by
/// `wire` (their items as attribute pairs, not the SDK's maps), and each item is turned
/// by `read` into what the caller keeps while its answer's body, which it borrows from, is
/// still there.
pub(super) async fn query_items<T>(
    query: QueryFluentBuilder,
    start: Option<Item>,
    want: usize,
    cost: &mut ReadCost,
    mut read: impl FnMut(Pairs<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut items: Vec<T> = Vec::new();
    let mut start = start;
    while items.len() < want {
        let missing = want - items.len();
        let started = Instant::now();
        let taken = TakeBody::default();
        let sent = query
            .clone()
            .limit(i32::try_from(missing).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .customize()
            .interceptor(taken.clone())
            .send()
            .await;
        let sdk_output = cost.answered(sent, started)?;
        let fail = |cost: &mut ReadCost, e: StoreError| {
            cost.add(0, None, started);
            Err(e)
        };
        let body = match taken.body().await {
            Ok(body) => body,
            Err(e) => return fail(cost, e),
        };
        let page = match &body {
            Some(body) => QueryPage::read(body, missing.min(ROOM), &mut read),
            // Not taken (no successful answer reached the interceptor): the SDK read the
            // answer itself, so its output is the page.
            None => QueryPage::from_output(sdk_output, &mut read),
        };
        let page = match page {
            Ok(page) => page,
            Err(e) => return fail(cost, e),
        };
        cost.add_units(page.scanned_count.max(page.count), page.capacity_units, started);
        if let Some(e) = page.refused {
            return Err(e);
        }
        if items.is_empty() {
            items = page.items;
        } else {
            items.extend(page.items);
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    Ok(items)
}
