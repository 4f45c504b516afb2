//! Test harness: a real DynamoDB API — AWS's DynamoDB Local, in memory, from the
//! project's tools folder (`make dynamodb-local`) — started once per test binary on a free
//! loopback port and gone when the test binary exits. Each test gets a table of its own.
//! The legacy MySQL side has a real MariaDB server the same way ([`mariadb`]).

pub mod apigw;
pub mod bootstrap_checks;
pub mod browser;
pub mod cloudwatch;
pub mod contract;
pub mod faults;
pub mod fixtures;
pub mod http1;
pub mod iam;
pub mod legacy_api;
pub mod live_writes;
pub mod mariadb;
pub mod nginx;
pub mod openapi;
pub mod runtime_api;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use shared::Store;
use shared::item::Item;

pub struct DynamoDbLocal {
    pub endpoint: String,
    pub port: u16,
    /// Holds the launcher's stdin open: it serves until this process exits.
    _child: Child,
}

pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
}

/// How long DynamoDB Local may take to start listening (a JVM on a loaded 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The DynamoDB Local of this test process, started on first use.
pub fn dynamodb() -> &'static DynamoDbLocal {
    static ENGINE: OnceLock<DynamoDbLocal> = OnceLock::new();
    ENGINE.get_or_init(start_dynamodb_local)
}

fn start_dynamodb_local() -> DynamoDbLocal {
    let log_dir = workspace_root().join("target/dynamodb-local-logs");
    std::fs::create_dir_all(&log_dir).expect("create target/dynamodb-local-logs");
    let log_path = log_dir.join(format!("dynamodb-local-{}.log", std::process::id()));
    // A port that was free a moment ago; DynamoDB Local cannot be asked to pick one.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port();
    let log = std::fs::File::create(&log_path).expect("create the DynamoDB Local log");
    let mut child = Command::new(workspace_root().join("scripts/dynamodb-local.sh"))
        .arg(port.to_string())
        .env("DYNAMODB_LOCAL_UNTIL_EOF", "1")
        .stdin(Stdio::piped())
        .stdout(log.try_clone().expect("clone the log handle"))
        .stderr(log)
        .spawn()
        .expect("start scripts/dynamodb-local.sh");
    // Readiness: the port accepts connections (the launcher exiting means it failed).
    let started = Instant::now();
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Ok(Some(status)) = child.try_wait() {
            panic!("DynamoDB Local did not start ({status}):\n{}", log_text());
        }
        if started.elapsed() > START_TIMEOUT {
            panic!(
                "DynamoDB Local did not listen on port {port} within {START_TIMEOUT:?}; see {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    DynamoDbLocal {
        endpoint: format!("http://127.0.0.1:{port}"),
        port,
        _child: child,
    }
}

/// The project's SDK configuration (HTTP client, retries) aimed at DynamoDB Local, with
/// time-outs sized for a loaded 2-core test machine rather than for DynamoDB.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_for(&dynamodb().endpoint).await
}

/// The same configuration aimed at another endpoint (a fault injector in front of it).
///
/// Plain HTTP without a connection pool: the tests share clients (in statics) across
/// `#[tokio::test]`s, each with a runtime of its own, and a pooled connection dies with the
/// runtime that opened it ("dispatch task is gone"). DynamoDB Local keeps connections
/// alive, so without this a test would pick up another test's dead connection.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    shared::client::config_loader()
        .http_client(
            aws_smithy_http_client::Builder::new()
                .pool_max_idle_per_host(0)
                .build_http(),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(5))
                .operation_attempt_timeout(std::time::Duration::from_secs(60))
                .operation_timeout(std::time::Duration::from_secs(120))
                .build(),
        )
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}

/// A name no other test of any test binary uses.
pub fn unique_table_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store over a new, empty table of its own.
pub async fn fresh_store() -> Store {
    let config = sdk_config().await;
    let store = Store::new(shared::client::dynamodb_client(&config), unique_table_name("t"));
    writer::Writer::of(&store)
        .ensure_table()
        .await
        .expect("create the test table");
    store
}

/// The ids of the first inbox page (newest activity first).
pub async fn inbox_ids(store: &Store, status: Option<shared::Status>, limit: u32) -> Vec<u64> {
    let query = shared::store::ListQuery {
        waiting: false,
        status,
        limit,
        after: None,
    };
    let page = store.list_conversations(query).await.expect("list conversations");
    page.conversations.iter().map(|c| c.id).collect()
}

/// The first page of the needs-reply queue: (waiting_since, id), longest waiting first.
pub async fn queue_of(store: &Store, limit: u32) -> Vec<(jiff::Timestamp, u64)> {
    let query = shared::store::ListQuery {
        status: None,
        waiting: true,
        limit,
        after: None,
    };
    let page = store
        .list_conversations(query)
        .await
        .expect("the needs-reply queue");
    page.conversations
        .iter()
        .map(|c| (c.waiting_since.expect("waiting_since in the queue"), c.id))
        .collect()
}

/// Every item of the table, sorted by key: for comparing whole tables in tests.
pub async fn all_items(store: &Store) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client()
            .scan()
            .table_name(store.table_name())
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let key = |it: &Item| format!("{:?}|{:?}", it.get("pk"), it.get("sk"));
    items.sort_by_key(key);
    items
}

/// `all_items` without the write stamps (`changed`, `messages_changed`), which say when
/// each conversation was written rather than what it holds: for comparing the contents of
/// tables written at different times. Every conversation item must have its stamp.
pub async fn items_unstamped(store: &Store) -> Vec<Item> {
    let mut items = all_items(store).await;
    // The tally's shards as one sum: which shard a write chose is chance. (The statistics'
    // hour items are compared as they are.)
    let is_tally = |it: &Item| {
        it.get("pk").and_then(|k| k.as_s().ok()).map(String::as_str) == Some(shared::table::TALLY_PK)
            && it
                .get("sk")
                .and_then(|k| k.as_s().ok())
                .is_some_and(|k| k.starts_with(shared::table::TALLY_SHARD_PREFIX))
    };
    if items.iter().any(is_tally) {
        let mut sum = shared::model::Tally::default();
        for it in items.iter().filter(|it| is_tally(it)) {
            sum.add(&shared::item::tally_from_item(it.clone()).expect("a tally shard"));
        }
        items.retain(|it| !is_tally(it));
        items.push(Item::from([
            ("pk".to_string(), shared::item::s(shared::table::TALLY_PK)),
            ("sk".to_string(), shared::item::s("sum")),
            ("sum".to_string(), shared::item::s(format!("{sum:?}"))),
        ]));
    }
    for item in &mut items {
        if item.get("sk").and_then(|k| k.as_s().ok()).map(String::as_str) == Some(shared::table::META_SK) {
            let changed = item
                .remove(shared::table::CHANGED)
                .expect("a stamped conversation");
            assert!(changed.as_s().is_ok_and(|k| k.contains('#')), "{changed:?}");
        }
        item.remove(shared::table::MESSAGES_CHANGED);
    }
    items
}

/// Checks the daily statistics against the table itself: every conversation item's share
/// is what its messages (positions below its count) make, and the hour items hold exactly
/// the sum of the shares they record. Returns how many conversation items are not counted
/// in them yet (no share, or a partial one: what it records is checked against the hour
/// items, not against its messages).
pub async fn check_stats(store: &Store) -> usize {
    stats_consistent(store).await.unwrap_or_else(|e| panic!("{e}"))
}

/// `check_stats`, the first difference as an error.
pub async fn stats_consistent(store: &Store) -> Result<usize, String> {
    use shared::stats::{Bucket, StatsShare};
    use std::collections::{BTreeMap, HashMap};
    let items = all_items(store).await;
    let now = shared::model::now_seconds();
    let mut times: HashMap<u64, Vec<(u64, jiff::Timestamp)>> = HashMap::new();
    let mut conversations = Vec::new();
    let mut hours: BTreeMap<(Bucket, char), i64> = BTreeMap::new();
    for it in &items {
        let sk = it["sk"].as_s().unwrap();
        if sk == shared::table::META_SK {
            conversations.push(shared::item::conversation_from_item(it.clone()).unwrap());
        } else if sk.starts_with("M#") {
            let placed = shared::item::placed_from_item(it.clone()).unwrap();
            let cid = shared::item::number_of(it, shared::table::CONVERSATION_ID).unwrap();
            times
                .entry(cid)
                .or_default()
                .push((placed.position, placed.created_at));
        } else if sk.starts_with(shared::table::STATS_HOUR_PREFIX) {
            let shared::item::TallyItem::Hour(h) = shared::item::tally_item_from_item(it.clone()).unwrap()
            else {
                panic!("an hour item: {it:?}");
            };
            for q in 0..shared::stats::QUARTERS {
                let bucket = Bucket::of(jiff::Timestamp::from_second(h.hour).unwrap()).0 + q as i64;
                for (kind, v) in [('m', h.messages[q]), ('n', h.newest[q])] {
                    if v != 0 {
                        hours.insert((Bucket(bucket), kind), v);
                    }
                }
            }
        }
    }
    let mut expected: BTreeMap<(Bucket, char), i64> = BTreeMap::new();
    let mut uncounted = 0;
    for c in &conversations {
        let Some(share) = c.stats.as_ref() else {
            uncounted += 1;
            continue;
        };
        // What it records is in the hour items, all of it or (partial) part.
        for (bucket, n) in &share.kept(now).messages {
            *expected.entry((*bucket, 'm')).or_default() += n;
        }
        if let Some(b) = share.kept(now).newest {
            *expected.entry((b, 'n')).or_default() += 1;
        }
        if share.partial {
            uncounted += 1;
            continue;
        }
        let visible: Vec<jiff::Timestamp> = times
            .get(&c.id)
            .into_iter()
            .flatten()
            .filter(|(position, _)| *position < c.message_count)
            .map(|(_, t)| *t)
            .collect();
        if visible.len() as u64 != c.message_count {
            return Err(format!(
                "conversation {}: {} messages below its count",
                c.id,
                visible.len()
            ));
        }
        let of_messages = StatsShare::of(visible, now);
        if share.kept(now) != of_messages {
            return Err(format!(
                "conversation {}'s statistics share {share:?}, its messages make {of_messages:?}",
                c.id
            ));
        }
    }
    expected.retain(|_, v| *v != 0);
    if hours != expected {
        return Err(format!(
            "the hour items {hours:?} against the conversations' shares {expected:?}"
        ));
    }
    Ok(uncounted)
}

/// An app (the functions' handlers) over a new table loaded with `convo-admin seed-demo`,
/// configured as the environment `vars` would configure a function.
pub async fn seeded_app(prefix: &str, vars: &[(&str, &str)]) -> shared::http::App {
    use clap::Parser;
    let table = unique_table_name(prefix);
    let sdk = sdk_config().await;
    for args in [&["create-table"][..], &["seed-demo"][..]] {
        let mut argv = vec!["convo-admin", "--table", &table];
        argv.extend_from_slice(args);
        convo_admin::cli::run(convo_admin::cli::Cli::try_parse_from(argv).unwrap(), &sdk)
            .await
            .expect("set up the demo table");
    }
    let config = shared::config::Config::from_lookup(|k| {
        if k == "TABLE_NAME" {
            return Some(table.clone());
        }
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
    })
    .expect("a valid configuration");
    shared::http::App {
        store: Store::new(shared::client::dynamodb_client(&sdk), &config.table_name),
        config,
    }
}
