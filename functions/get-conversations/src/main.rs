//! `get-conversations`: the inbox, its counts and statistics, and the original dashboard's
//! two polls. `shared::http` inits once (configuration, SDK client, time zone), then serves
//! these routes.

use shared::http::routes::{CHECK_UPDATES, CONVERSATION_UPDATES, COUNTS, INBOX, Routes, STATS};

/// The paths template.yaml routes to this function, each with what answers it.
const ROUTES: Routes = &[
    ("/api/conversations", INBOX),
    // The tally: one Query of its shards (docs/DESIGN.md, "Counts").
    ("/api/conversations/counts", COUNTS),
    ("/api/get-conversation-counts.php", COUNTS),
    // The tally and the statistics' hour items: one Query (docs/DESIGN.md, "Statistics").
    ("/api/stats", STATS),
    ("/api/get-conversations", INBOX),
    ("/api/get-conversations.php", INBOX),
    // The polls read the inbox's indexes and conversation items, with the inbox's
    // permissions (docs/DESIGN.md, "Polling").
    ("/api/check-updates.php", CHECK_UPDATES),
    ("/api/check-conversation-updates.php", CONVERSATION_UPDATES),
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::http::run(ROUTES).await
}
