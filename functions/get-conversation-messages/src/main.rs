//! Lambda entry point of `get-conversation-messages`: init once (configuration, SDK client, time zone),
//! then serve requests with the shared handler. No network call before the first request.

use std::convert::Infallible;

use lambda_http::{Error, Request, run, service_fn};
use shared::config::Config;
use shared::http::{App, get_conversation_messages};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env().unwrap_or_else(|e| {
        // Lambda reports the exit as Runtime.ExitError with this line in the log.
        eprintln!("configuration error: {e}");
        std::process::exit(1);
    });
    let app = App::from_config(config).await;
    let app = &app;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(get_conversation_messages(app, req).await)
    }))
    .await
}
