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
use crate::sync::{self, legacy_db, legacy_db::LegacyDb};
use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use tokio::sync::watch;
use writer::Writer;
use writer::{EnsureTableError, TableCheck};

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
    /// Bring a table written before this version up to date: adds every conversation not
    /// counted yet to the counts (GET /api/conversations/counts), then works out from its
    /// messages whether each conversation waits for an answer (the needs-reply queue,
    /// GET /api/conversations?waiting=customer), then adds each conversation's messages of
    /// the last 8 days to the daily statistics (GET /api/stats). Idempotent and resumable;
    /// safe while the sync or the bot writes. Run it once after upgrading.
    Backfill,
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
    /// Bring the table up to date with the live legacy MySQL database: new conversations and
    /// messages, changed statuses, names and AI flags. One run converges and exits;
    /// --follow keeps polling until SIGINT or SIGTERM. Needs only SELECT on MySQL. The
    /// checkpoint is kept in the table, so a restart resumes where it stopped. A conversation
    /// whose table copy holds what MySQL lacks is quarantined (set aside, the rest go on):
    /// --status lists them, --rebuild brings one back.
    Sync {
        /// The legacy database, mysql://user[:password]@host:3306/database. A host other
        /// than this one (127.0.0.0/8, ::1, localhost, a socket) is reached over TLS unless
        /// the URL ends in ?require_ssl=false; on this host TLS only with ?require_ssl=true.
        /// Prefer LEGACY_MYSQL_URL (a flag's password shows in `ps`), and the password in
        /// LEGACY_MYSQL_PASSWORD_FILE.
        #[arg(
            long,
            env = "LEGACY_MYSQL_URL",
            hide_env_values = true,
            value_name = "mysql://user@host:3306/database",
            required_unless_present = "status"
        )]
        mysql: Option<String>,
        /// A file holding the MySQL password (one trailing line break is dropped), e.g.
        /// systemd's credential; the URL then carries none (both are refused).
        #[arg(
            long,
            env = "LEGACY_MYSQL_PASSWORD_FILE",
            hide_env_values = true,
            value_name = "FILE"
        )]
        mysql_password_file: Option<PathBuf>,
        /// The CA certificate(s), PEM, that the server's TLS certificate is checked against,
        /// instead of the built-in Mozilla roots (webpki-roots, compiled in; the system's
        /// /etc/ssl is never read): a private CA, or the provider's bundle (RDS). Also
        /// ?ssl_ca=/path in the URL. Implies TLS.
        #[arg(
            long,
            env = "LEGACY_MYSQL_CA_FILE",
            hide_env_values = true,
            value_name = "FILE.pem"
        )]
        mysql_ca_file: Option<PathBuf>,
        /// Print the checkpoint, when the last round ended (the lag) and the quarantined
        /// conversations, from the table alone (no MySQL), and exit.
        #[arg(long, conflicts_with_all = ["follow", "rebuild"])]
        status: bool,
        /// Rebuild quarantined conversation ID from MySQL and clear its quarantine: its
        /// conversation item, phone claim and every message item are replaced with MySQL's
        /// (messages only the table has are removed). Refused while MySQL lacks it.
        #[arg(long, value_name = "ID", conflicts_with = "follow")]
        rebuild: Option<u64>,
        /// Keep polling until SIGINT or SIGTERM (then finish the round in flight and save the
        /// checkpoint).
        #[arg(long)]
        follow: bool,
        /// Time between rounds of --follow (e.g. 2s, 500ms, 1m).
        #[arg(long, default_value = "2s", value_parser = duration)]
        interval: Duration,
        /// How long after its id is drawn a MySQL transaction may still commit a row and be
        /// picked up (ids are re-read for this long).
        #[arg(long, default_value = "60s", value_parser = duration)]
        window: Duration,
        /// New message ids read per round.
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        batch: u64,
        /// Publish each round's SyncLagSeconds, SyncRowsApplied and SyncQuarantined to this
        /// CloudWatch namespace (the stack's SyncMetricsNamespace, whose SyncMonitoring alarms
        /// read them; dimension TableName). Off by default: no CloudWatch needed.
        #[arg(long, env = "SYNC_METRICS_NAMESPACE", value_name = "NAMESPACE")]
        metrics_namespace: Option<String>,
        /// By default each round publishes its three metrics in one PutMetricData call. A
        /// duration (at most 60s: the alarms read one-minute periods) gathers the rounds of
        /// that span into one call instead, a statistic set per metric, every round counted:
        /// 60s makes 30 times fewer calls at the default --interval.
        #[arg(long, default_value = "0s", value_parser = metrics_every)]
        metrics_every: Duration,
    },
    /// Print the value that signs a user in to the dashboard behind CloudFront, for the
    /// stack's DashboardUsers key value store (key: the user name). Generates a strong
    /// password and shows it once on stderr, or reads one (16+ characters) with
    /// --password-stdin. Offline: needs no table and no AWS access.
    DashboardUser(crate::dashboard_user::Args),
}

/// `--metrics-every`: a duration of at most a minute.
fn metrics_every(text: &str) -> Result<Duration, String> {
    let every = duration(text)?;
    if every > Duration::from_secs(60) {
        return Err(format!(
            "{text:?} is more than 60s: the sync alarms read one-minute periods"
        ));
    }
    Ok(every)
}

/// `2s`, `500ms`, `1m`, or a number of seconds.
fn duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: write e.g. 2s, 500ms or 1m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{text:?}: the unit must be ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
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

fn writer(table: Option<String>, config: &SdkConfig) -> anyhow::Result<Writer> {
    let Some(table) = table.filter(|t| !t.is_empty()) else {
        bail!("no table: set TABLE_NAME (or pass --table)");
    };
    if config.region().is_none() {
        bail!("no AWS region: set AWS_REGION (any region, e.g. us-east-1, for a local DynamoDB)");
    }
    Ok(Writer::new(shared::client::dynamodb_client(config), table))
}

/// Runs one command with the given SDK configuration (from the environment in `main`).
pub async fn run(cli: Cli, config: &SdkConfig) -> anyhow::Result<()> {
    match cli.command {
        Command::CreateTable => {
            let writer = writer(cli.table, config)?;
            match writer.ensure_table().await {
                Ok(TableCheck::Created) => println!("created table {}", writer.table_name()),
                Ok(TableCheck::AlreadyExists) => {
                    println!(
                        "table {} already exists with the same definition",
                        writer.table_name()
                    )
                }
                Err(EnsureTableError::Mismatch(m)) => {
                    bail!("{m}\ndelete it or set TABLE_NAME to another table")
                }
                Err(e) => return Err(e).context("creating the table"),
            }
        }
        Command::Backfill => {
            let writer = writer(cli.table, config)?;
            let report = crate::backfill::run(&writer).await?;
            let (counts, _) = writer.store().tally().await?;
            println!(
                "{report}\ncounts now: active {}, pending_human {}, closed {}, total {}; messages {}",
                counts.active,
                counts.pending_human,
                counts.closed,
                counts.total(),
                counts.messages
            );
        }
        Command::SeedDemo => {
            let writer = writer(cli.table, config)?;
            let demo = Demo::new(shared::model::now_seconds());
            let report = import(Some(&writer), Arc::new(demo), "seeding").await?;
            println!("demo data loaded into {}\n{report}", writer.table_name());
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
                Some(writer(cli.table, config)?)
            };
            let report = import(table.as_ref(), source, "importing").await?;
            match &table {
                Some(writer) => println!("imported into {}\n{report}", writer.table_name()),
                None => println!("{report}"),
            }
        }
        Command::Sync {
            mysql,
            mysql_password_file,
            mysql_ca_file,
            status,
            rebuild,
            follow,
            interval,
            window,
            batch,
            metrics_namespace,
            metrics_every,
        } => {
            let writer = writer(cli.table, config)?;
            if status {
                println!("{}", sync::status(&writer).await?);
                return Ok(());
            }
            let Some(mysql) = mysql else {
                bail!("no MySQL database: set LEGACY_MYSQL_URL (or pass --mysql)");
            };
            let legacy = LegacyDb::with_settings(&legacy_db::Settings {
                url: mysql,
                ca_file: mysql_ca_file,
                password_file: mysql_password_file,
            })?;
            if let Some(id) = rebuild {
                let result = sync::rebuild(&writer, &legacy, id).await;
                legacy.disconnect().await;
                println!("{}", result?);
                return Ok(());
            }
            let options = sync::Options {
                follow,
                interval,
                window,
                batch: batch as usize,
                metrics: metrics_namespace
                    .filter(|n| !n.is_empty())
                    .map(|namespace| sync::metrics::Target::new(config, namespace, metrics_every)),
            };
            let (stop, stopped) = watch::channel(false);
            tokio::spawn(async move {
                stop_signal().await;
                let _ = stop.send(true);
            });
            let result = sync::run(&writer, &legacy, &options, stopped, &mut std::io::stdout()).await;
            legacy.disconnect().await;
            println!("{}", result?);
        }
        Command::DashboardUser(args) => args.run(
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )?,
    }
    Ok(())
}

/// SIGINT or SIGTERM (what systemd sends to stop a unit).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
