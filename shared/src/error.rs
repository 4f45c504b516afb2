//! Errors of the store. The HTTP layer maps them to the contract's status codes; only
//! `Display` of the variant reaches the log, never a client.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("conversation {0} does not exist")]
    ConversationNotFound(u64),
    /// The number in full; its message shows it masked (`model::mask_phone`).
    #[error("phone number {phone} already belongs to conversation {owner}", phone = crate::model::mask_phone(.0), owner = .1)]
    PhoneTaken(String, u64),
    #[error("phone number {phone} already belongs to another conversation", phone = crate::model::mask_phone(.0))]
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
    /// A `before` cursor beyond the conversation's messages: not one this API issued.
    #[error("cursor position {position} is past the conversation's {total} messages")]
    CursorPastEnd { position: u64, total: u64 },
    /// An item DynamoDB would refuse (400 KB): refused before it is sent.
    #[error(
        "{what} would be a DynamoDB item of {size} bytes, over DynamoDB's limit of {limit} bytes \
         (attribute names and values together); shorten its text or context"
    )]
    ItemTooLarge { what: String, size: usize, limit: usize },
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

/// DynamoDB's own transient failures (HTTP 500 and 503): the request may succeed when
/// retried, so the client is told to retry rather than given a 500.
const SERVER_FAULT_CODES: [&str; 2] = ["InternalServerError", "ServiceUnavailable"];

/// Sorts an SDK error into throttling, unavailability or anything else, keeping the
/// full cause (with its source chain) for the log.
pub fn classify<E>(err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let text = error_chain(&err);
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => StoreError::Unavailable(text),
        SdkError::ServiceError(se) if se.err().code().is_some_and(|c| THROTTLING_CODES.contains(&c)) => {
            StoreError::Throttled(text)
        }
        SdkError::ServiceError(se)
            if se.err().code().is_some_and(|c| SERVER_FAULT_CODES.contains(&c))
                || matches!(se.raw().status().as_u16(), 500 | 503) =>
        {
            StoreError::Unavailable(text)
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
