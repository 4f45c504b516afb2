//! A Query followed page by page: the one loop the writer's reads (a conversation's tail,
//! all its messages, the sync's quarantine records) share; and the backfill's pages of the
//! conversations it has still to do.

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use shared::error::{StoreError, classify};
use shared::item::{self, Item, s};
use shared::table;

use crate::Writer;

impl Writer {
    /// One page of the inbox index from `start`: the conversation items that lack
    /// `missing` (what the backfill has still to do), with `attributes` only, and where the
    /// next page starts (`None`: this was the last).
    pub(crate) async fn inbox_page_without(
        &self,
        missing: &str,
        attributes: &[&'static str],
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        self.inbox_page_unfinished(missing, None, attributes, start).await
    }

    /// `inbox_page_without`, also taking the items whose `missing` starts with
    /// `unfinished` (a share still partial).
    pub(crate) async fn inbox_page_unfinished(
        &self,
        missing: &str,
        unfinished: Option<&str>,
        attributes: &[&'static str],
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let (projection, names) = item::projection(attributes);
        let query = self
            .client()
            .query()
            .table_name(self.table_name())
            .index_name(table::INDEX_BY_ACTIVITY)
            .key_condition_expression("#inbox = :all")
            .filter_expression(match unfinished {
                Some(_) => "attribute_not_exists(#missing) OR begins_with(#missing, :unfinished)",
                None => "attribute_not_exists(#missing)",
            })
            .set_expression_attribute_values(Some(
                [(":all".to_string(), s(table::INBOX_ALL))]
                    .into_iter()
                    .chain(unfinished.map(|u| (":unfinished".to_string(), s(u))))
                    .collect(),
            ))
            .projection_expression(projection)
            .expression_attribute_names("#inbox", table::INBOX)
            .expression_attribute_names("#missing", missing)
            .set_exclusive_start_key(start);
        let out = names
            .into_iter()
            .fold(query, |q, (placeholder, name)| {
                q.expression_attribute_names(placeholder, name)
            })
            .send()
            .await
            .map_err(classify)?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }
}

/// The id and message count of a conversation item (or of its projection on a backfill's
/// page).
pub(crate) fn id_and_count(it: &Item) -> Result<(u64, u64), StoreError> {
    match (
        item::number_of(it, table::ID),
        item::number_of(it, table::MESSAGE_COUNT),
    ) {
        (Some(id), Some(count)) => Ok((id, count)),
        _ => Err(StoreError::BadItem {
            what: "conversation",
            reason: "id or message_count missing or malformed".into(),
        }),
    }
}

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
