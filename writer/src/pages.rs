//! A Query followed page by page: the one loop the writer's reads (a conversation's tail,
//! all its messages, the sync's quarantine records) share.

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use shared::error::{StoreError, classify};
use shared::item::Item;

/// Sends `query`, then again from each page's last key, handing every item to `each`
/// until it answers `false` or the pages end.
pub(crate) async fn each_item(
    query: QueryFluentBuilder,
    mut each: impl FnMut(Item) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let mut start = None;
    loop {
        let out = query
            .clone()
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        for it in out.items.unwrap_or_default() {
            if !each(it)? {
                return Ok(());
            }
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(());
        }
    }
}
