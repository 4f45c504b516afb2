//! The command line: argument parsing and the commands, callable in-process by tests.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use jiff::tz::TimeZone;

use crate::import::import;
use crate::source::Source;
use crate::source::demo::Demo;
use crate::source::jsonl::JsonlFiles;
use crate::source::mysqldump::DumpFile;
use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
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
    /// Import the legacy MySQL data: a mysqldump file (`--mysqldump backup.sql.gz`), or rows
    /// exported as JSON Lines (`--conversations … --messages …`, one row per line, legacy
    /// column names). Validates everything before writing; re-running it changes nothing.
    Import {
        /// A mysqldump / mariadb-dump file of the legacy database, plain or gzip-compressed
        /// (.sql or .sql.gz); only the `conversations` and `messages` tables are read.
        #[arg(
            long,
            value_name = "FILE.sql[.gz]",
            conflicts_with_all = ["conversations", "messages"],
            required_unless_present_all = ["conversations", "messages"]
        )]
        mysqldump: Option<PathBuf>,
        /// Rows of the legacy `conversations` table.
        #[arg(long, value_name = "FILE.jsonl", requires = "messages")]
        conversations: Option<PathBuf>,
        /// Rows of the legacy `messages` table.
        #[arg(long, value_name = "FILE.jsonl", requires = "conversations")]
        messages: Option<PathBuf>,
        /// IANA zone the timestamps are written in (default UTC): the legacy server's zone
        /// for rows read by its application, e.g. America/Bogota. A dump made with
        /// mysqldump's default --tz-utc says its own zone (UTC), which wins.
        #[arg(long, value_name = "IANA")]
        source_timezone: Option<String>,
        /// Validate and report, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The SDK configuration of the functions, with patience for bulk work: their time-outs
/// (2 s an attempt, 4 s an operation) are tuned to answer within a Lambda's 10 s, but an
/// import of a million rows from a workstation would rather wait out a slow moment of
/// DynamoDB (throttling, a busy local DynamoDB) than stop half-way.
pub async fn sdk_config() -> SdkConfig {
    shared::client::config_loader()
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(120))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(8))
        .load()
        .await
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
            let demo = Demo::new(shared::model::now_seconds());
            let report = import(Some(&store), Arc::new(demo), "seeding").await?;
            println!("demo data loaded into {}\n{report}", store.table_name());
        }
        Command::Import {
            mysqldump,
            conversations,
            messages,
            source_timezone,
            dry_run,
        } => {
            let zone = match &source_timezone {
                None => None,
                Some(name) => Some((
                    name.as_str(),
                    TimeZone::get(name).with_context(|| {
                        format!(
                            "--source-timezone {name:?} is not an IANA time zone (e.g. UTC, America/Bogota)"
                        )
                    })?,
                )),
            };
            let source: Arc<dyn Source> = match (mysqldump, conversations, messages) {
                (Some(dump), _, _) => Arc::new(DumpFile::open(&dump, zone)?),
                (None, Some(conversations), Some(messages)) => Arc::new(JsonlFiles::open(
                    &conversations,
                    &messages,
                    zone.map_or(TimeZone::UTC, |(_, z)| z),
                )?),
                _ => bail!("pass --mysqldump FILE, or --conversations FILE and --messages FILE"),
            };
            let table = if dry_run {
                None
            } else {
                Some(store(cli.table, config)?)
            };
            let report = import(table.as_ref(), source, "importing").await?;
            match &table {
                Some(store) => println!("imported into {}\n{report}", store.table_name()),
                None => println!("{report}"),
            }
        }
    }
    Ok(())
}
