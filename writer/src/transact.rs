//! Transactions: every multi-item write (a change's steps, the tests' live writes) goes
//! through `Writer::transact`, which makes a retried request idempotent and tells a failed
//! condition from a conflict with another writer.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;
use shared::error::{StoreError, classify};
use shared::item::Item;

use crate::Writer;

/// A request the SDK's builder refused (a required field missing): a bug here, not a
/// DynamoDB answer.
pub fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Dynamo(e.to_string())
}

/// How a transaction ended.
pub enum TxOutcome {
    Done,
    /// Cancelled: per item of the request, `Some(item as it is now)` where its condition
    /// failed (the item is returned when the request asked for it with
    /// `ReturnValuesOnConditionCheckFailure`), `None` where it did not. All `None`: another
    /// transaction touched the same items at the same time.
    Cancelled(Vec<Option<Option<Item>>>),
}

impl TxOutcome {
    /// Cancelled because another transaction was in progress on its items: this request
    /// may still have been applied (DynamoDB's answer to a retry of one that is).
    pub fn in_progress(&self) -> bool {
        matches!(self, TxOutcome::Cancelled(reasons) if reasons.is_empty())
    }

    /// The current item behind a failed condition at `index`, if that condition failed.
    pub fn failed(&self, index: usize) -> Option<Option<&Item>> {
        match self {
            TxOutcome::Cancelled(reasons) => reasons.get(index)?.as_ref().map(Option::as_ref),
            TxOutcome::Done => None,
        }
    }
}

impl Writer {
    /// Runs a transaction with a fresh idempotency token: when the SDK retries a request
    /// whose first try committed but whose answer was lost, DynamoDB answers the retry with
    /// success instead of applying it twice (tokens are one per call, as a token reused
    /// with other parameters is an error).
    pub async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<TxOutcome, StoreError> {
        let token = format!("{:032x}", fastrand::u128(..));
        match self
            .client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
            .send()
            .await
        {
            Ok(_) => Ok(TxOutcome::Done),
            Err(SdkError::ServiceError(se)) => match se.err() {
                TransactWriteItemsError::TransactionCanceledException(tc) => {
                    let reasons = tc.cancellation_reasons();
                    // An item the write would make invalid (over 400 KB): no retry mends it.
                    if let Some(invalid) = reasons.iter().find(|r| r.code() == Some("ValidationError")) {
                        return Err(StoreError::Dynamo(format!(
                            "transaction refused: {}",
                            invalid.message().unwrap_or("an item is not valid")
                        )));
                    }
                    if reasons.iter().any(|r| r.code() == Some("TransactionConflict")) {
                        self.conflict();
                    }
                    Ok(TxOutcome::Cancelled(
                        reasons
                            .iter()
                            .map(|r| (r.code() == Some("ConditionalCheckFailed")).then(|| r.item().cloned()))
                            .collect(),
                    ))
                }
                TransactWriteItemsError::TransactionInProgressException(_) => {
                    self.conflict();
                    Ok(TxOutcome::Cancelled(Vec::new()))
                }
                _ => Err(classify(SdkError::ServiceError(se))),
            },
            Err(e) => Err(classify(e)),
        }
    }
}
