//! Lambda entry point of `get-conversations`: everything is in `shared::http`, which inits once
//! (configuration, SDK client, time zone) and then serves requests.

use shared::http::{Endpoint, run};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    run(Endpoint::Conversations).await
}
