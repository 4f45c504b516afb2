//! The command line: argument parsing and the commands, callable in-process by tests.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use jiff::tz::TimeZone;

use crate::import::{self, progress_bar};
use crate::plan::ImportPlan;
use crate::{jsonl, seed};
use aws_config::SdkConfig;
use shared::Store;
use shared::store::{EnsureTableError, TableCheck};

/// Admin tool of the Conversations API: table set-up, demo data, legacy import.
///
/// Configured like the functions, through the environment: TABLE_NAME, AWS_REGION and
/// the SDK's credentials chain; AWS_ENDPOINT_URL_DYNAMODB points it at a local DynamoDB.
#[derive(Debug, Parser)]
#[command(name = "convo-admin", version, about)]
pub struct Cli {
    /// The DynamoDB table.
    #[arg(long, env = "TABLE_NAME", global = true, hide_env_values = true)]
    pub table: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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

fn store(table: Option<String>, config: &SdkConfig) -> anyhow::Result<Store> {
    let Some(table) = table.filter(|t| !t.is_empty()) else {
        bail!("no table: set TABLE_NAME (or pass --table)");
    };
    if config.region().is_none() {
        bail!("no AWS region: set AWS_REGION (any region, e.g. us-east-1, for a local DynamoDB)");
    }
    Ok(Store::new(shared::client::dynamodb_client(config), table))
}

/// Runs one command with the given SDK configuration (from the environment in `main`).
pub async fn run(cli: Cli, config: &SdkConfig) -> anyhow::Result<()> {
    match cli.command {
        Command::CreateTable => {
            let store = store(cli.table, config)?;
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
            let store = store(cli.table, config)?;
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
            let store = store(cli.table, config)?;
            let report = write(&store, &plan, "importing").await?;
            println!("imported into {}\n{report}", store.table_name());
        }
    }
    Ok(())
}

async fn write(store: &Store, plan: &ImportPlan, what: &str) -> anyhow::Result<import::ImportReport> {
    let bar = progress_bar(plan.record_count() as u64, what);
    let report = import::write_plan(store, plan, &bar).await;
    bar.finish_and_clear();
    Ok(report?)
}
