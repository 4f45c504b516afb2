//! The real `bootstrap` binary through the Lambda runtime loop: hostile events answered
//! with the contract's 4xx, the process still serving after them, no private data in logs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code"
)]

use integration_tests::apigw::Function;

#[test]
fn hostile_events_are_answered_and_private_data_stays_out_of_logs() {
    integration_tests::bootstrap_checks::hostile_events_and_private_data_stay_out_of_logs(
        std::path::Path::new(env!("CARGO_BIN_EXE_get-conversation-messages")),
        Function::GetConversationMessages,
    );
}
