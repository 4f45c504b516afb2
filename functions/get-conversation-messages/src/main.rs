//! `get-conversation-messages`: one conversation's messages, paged. `shared::http` inits
//! once (configuration, SDK client, time zone), then serves these routes.

use shared::http::routes::{MESSAGES, Routes};

/// The paths template.yaml routes to this function, each with what answers it.
const ROUTES: Routes = &[
    ("/api/conversations/{id}/messages", MESSAGES),
    ("/api/get-conversation-messages", MESSAGES),
    ("/api/get-conversation-messages.php", MESSAGES),
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::http::run(ROUTES).await
}
