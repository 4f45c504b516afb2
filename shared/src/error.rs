//! Errors of the store. The HTTP layer maps them to the contract's status codes; only
//! `Display` of the variant reaches the log, never a client.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("conversation {0} does not exist")]
    ConversationNotFound(u64),
    #[error("phone number {0:?} already belongs to conversation {1}")]
    PhoneTaken(String, u64),
    #[error("phone number {0:?} already belongs to another conversation")]
    PhoneTakenUnknownOwner(String),
    /// DynamoDB kept throttling after the SDK's retries.
    #[error("DynamoDB throttled the request: {0}")]
    Throttled(String),
    /// DynamoDB could not be reached in time (connect or operation time-out, connection lost).
    #[error("DynamoDB unavailable: {0}")]
    Unavailable(String),
    /// Concurrent writers kept winning; the append gave up after its retries.
    #[error("gave up after {0} conflicting attempts")]
    Contention(u32),
    #[error("stored {what} item is malformed: {reason}")]
    BadItem { what: &'static str, reason: String },
    #[error("DynamoDB error: {0}")]
    Dynamo(String),
}

impl StoreError {
    /// Whether a client should retry later (503 with `Retry-After`).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Throttled(_) | StoreError::Unavailable(_) | StoreError::Contention(_)
        )
    }
}

const THROTTLING_CODES: [&str; 4] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
];

/// Sorts an SDK error into throttling, unavailability or anything else, keeping the
/// full cause (with its source chain) for the log.
pub fn classify<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let text = error_chain(&err);
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => StoreError::Unavailable(text),
        SdkError::ServiceError(se) if se.err().code().is_some_and(|c| THROTTLING_CODES.contains(&c)) => {
            StoreError::Throttled(text)
        }
        _ => StoreError::Dynamo(text),
    }
}

/// The error and all its sources on one line: the SDK's top-level messages alone
/// ("service error", "dispatch failure") say nothing useful in a log.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
