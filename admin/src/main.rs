use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use jiff::tz::TimeZone;

use convo_admin::import::{self, progress_bar};
use convo_admin::plan::ImportPlan;
use convo_admin::{jsonl, seed};
use shared::Store;
use shared::store::{EnsureTableError, TableCheck};

/// Admin tool of the Conversations API: table set-up, demo data, legacy import.
///
/// Configured like the functions, through the environment: TABLE_NAME, AWS_REGION and
/// the SDK's credentials chain; AWS_ENDPOINT_URL_DYNAMODB points it at a local DynamoDB.
#[derive(Parser)]
#[command(name = "convo-admin", version, about)]
struct Cli {
    /// The DynamoDB table.
    #[arg(long, env = "TABLE_NAME", global = true, hide_env_values = true)]
    table: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the table (with its indexes); fine if it exists with the same definition.
    CreateTable,
    /// Load a realistic demo data set (37 conversations, a few hundred messages).
    SeedDemo,
    /// Import legacy MySQL rows exported as JSON Lines (one row per line, legacy column
    /// names). Validates everything before writing; re-running it changes nothing.
    Import {
        /// Rows of the legacy `conversations` table.
        #[arg(long, value_name = "FILE.jsonl")]
        conversations: PathBuf,
        /// Rows of the legacy `messages` table.
        #[arg(long, value_name = "FILE.jsonl")]
        messages: PathBuf,
        /// IANA zone the exported timestamps are written in (the legacy server's zone
        /// for rows read by its application, e.g. America/Bogota).
        #[arg(long, value_name = "IANA", default_value = "UTC")]
        source_timezone: String,
        /// Validate and report, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RUST_LOG"))
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn store(table: Option<String>) -> anyhow::Result<Store> {
    let Some(table) = table.filter(|t| !t.is_empty()) else {
        bail!("no table: set TABLE_NAME (or pass --table)");
    };
    let config = shared::client::load_sdk_config().await;
    if config.region().is_none() {
        bail!("no AWS region: set AWS_REGION (any region, e.g. us-east-1, for a local DynamoDB)");
    }
    Ok(Store::new(shared::client::dynamodb_client(&config), table))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::CreateTable => {
            let store = store(cli.table).await?;
            match store.ensure_table().await {
                Ok(TableCheck::Created) => println!("created table {}", store.table_name()),
                Ok(TableCheck::AlreadyExists) => {
                    println!(
                        "table {} already exists with the same definition",
                        store.table_name()
                    )
                }
                Err(EnsureTableError::Mismatch(m)) => {
                    bail!("{m}\ndelete it or set TABLE_NAME to another table")
                }
                Err(e) => return Err(e).context("creating the table"),
            }
        }
        Command::SeedDemo => {
            let store = store(cli.table).await?;
            let plan = seed::demo_plan(shared::model::now_seconds());
            let report = write(&store, &plan, "seeding").await?;
            println!("demo data loaded into {}\n{report}", store.table_name());
        }
        Command::Import {
            conversations,
            messages,
            source_timezone,
            dry_run,
        } => {
            let zone = TimeZone::get(&source_timezone).with_context(|| {
                format!("--source-timezone {source_timezone:?} is not an IANA time zone (e.g. UTC, America/Bogota)")
            })?;
            let plan = ImportPlan::build(
                jsonl::read_conversations(&conversations, &zone)?,
                jsonl::read_messages(&messages, &zone)?,
            )?;
            if dry_run {
                println!(
                    "dry run: {} conversations and {} messages are valid; nothing written",
                    plan.conversations.len(),
                    plan.messages.len()
                );
                for (status, n) in plan.per_status() {
                    println!("  {:<14} {n}", status.as_str());
                }
                return Ok(());
            }
            let store = store(cli.table).await?;
            let report = write(&store, &plan, "importing").await?;
            println!("imported into {}\n{report}", store.table_name());
        }
    }
    Ok(())
}

async fn write(
    store: &Store,
    plan: &ImportPlan,
    what: &str,
) -> anyhow::Result<import::ImportReport> {
    let bar = progress_bar(plan.record_count() as u64, what);
    let report = import::write_plan(store, plan, &bar).await;
    bar.finish_and_clear();
    Ok(report?)
}
