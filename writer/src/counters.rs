//! The id counters: conversation and message ids drawn by live writers, raised past the
//! legacy ids an import or the sync keeps.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValue;
use shared::error::{StoreError, classify};
use shared::item::{self, n};
use shared::model::MAX_ID;
use shared::table;

use crate::Writer;

impl Writer {
    /// Next id from an atomic counter. Counters only grow, and an import raises them past
    /// the legacy ids it keeps, so ids stay unique whatever writes run at once.
    pub async fn allocate_id(&self, counter: &str) -> Result<u64, StoreError> {
        let out = self
            .client()
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(item::key(table::COUNTER_PK.to_string(), counter)))
            .update_expression("ADD #next :one")
            .expression_attribute_names("#next", table::NEXT_ID)
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(classify)?;
        let id = out
            .attributes
            .as_ref()
            .and_then(|a| a.get(table::NEXT_ID))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| StoreError::BadItem {
                what: "id counter",
                reason: "next_id is not a number".into(),
            })?;
        if id > MAX_ID {
            return Err(StoreError::Dynamo(format!("{counter} ids exhausted")));
        }
        Ok(id)
    }

    /// Raises the counters so that ids allocated later are above these (imported) ones.
    pub async fn raise_id_counters(
        &self,
        max_conversation_id: u64,
        max_message_id: u64,
    ) -> Result<(), StoreError> {
        for (counter, max) in [
            (table::CONVERSATION_COUNTER_SK, max_conversation_id),
            (table::MESSAGE_COUNTER_SK, max_message_id),
        ] {
            let result = self
                .client()
                .update_item()
                .table_name(self.table_name())
                .set_key(Some(item::key(table::COUNTER_PK.to_string(), counter)))
                .update_expression("SET #next = :max")
                .condition_expression("attribute_not_exists(#next) OR #next < :max")
                .expression_attribute_names("#next", table::NEXT_ID)
                .expression_attribute_values(":max", n(max))
                .send()
                .await;
            match result {
                Ok(_) => {}
                Err(SdkError::ServiceError(se))
                    if matches!(se.err(), UpdateItemError::ConditionalCheckFailedException(_)) => {}
                Err(e) => return Err(classify(e)),
            }
        }
        Ok(())
    }
}
