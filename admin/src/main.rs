use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RUST_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = convo_admin::cli::Cli::parse();
    let config = convo_admin::cli::sdk_config().await;
    match convo_admin::cli::run(cli, &config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", convo_admin::errors::one_line(&e));
            ExitCode::FAILURE
        }
    }
}
