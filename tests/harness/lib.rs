//! Test harness: a real DynamoDB API — Moto in server mode, from the project's
//! virtualenv (`make tools`) — started once per test binary on a free loopback port and
//! gone when the test binary exits. Each test gets a table of its own.

pub mod apigw;
pub mod bootstrap_checks;
pub mod contract;
pub mod faults;
pub mod fixtures;
pub mod http1;
pub mod openapi;
pub mod runtime_api;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::{Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use shared::Store;
use shared::item::Item;

pub struct Moto {
    pub endpoint: String,
    /// Holds the launcher's stdin open: it serves until this process exits.
    _child: Child,
}

pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
}

/// The Python with Moto installed: `$CONVO_TOOLS_PYTHON`, or the project's virtualenv.
fn python() -> PathBuf {
    std::env::var_os("CONVO_TOOLS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".tools/venv/bin/python"))
}

pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let python = python();
        assert!(
            python.exists(),
            "{} not found: run `make tools` (or `make test`) to install Moto into .tools/venv",
            python.display()
        );
        let log_dir = workspace_root().join("target/moto-logs");
        std::fs::create_dir_all(&log_dir).expect("create target/moto-logs");
        let log_path = log_dir.join(format!("moto-{}.log", std::process::id()));
        let log = std::fs::File::create(&log_path).expect("create the Moto log");
        let mut child = Command::new(&python)
            .arg(workspace_root().join("tests/harness/moto_launcher.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the Moto launcher's output");
        let port: u16 = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("Moto did not start (got {line:?}); see {}", log_path.display()));
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: child,
        }
    })
}

/// The project's SDK configuration (HTTP client, retries) aimed at Moto, with time-outs
/// sized for Moto rather than DynamoDB: Moto applies one request at a time and copies a
/// table for every transaction, so a loaded test machine can make it answer in seconds.
pub async fn sdk_config() -> SdkConfig {
    shared::client::config_loader()
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(5))
                .operation_attempt_timeout(std::time::Duration::from_secs(60))
                .operation_timeout(std::time::Duration::from_secs(120))
                .build(),
        )
        .endpoint_url(&moto().endpoint)
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
    store.ensure_table().await.expect("create the test table");
    store
}

/// The ids of the first inbox page (newest activity first).
pub async fn inbox_ids(store: &Store, status: Option<shared::Status>, limit: u32) -> Vec<u64> {
    let query = shared::store::ListQuery {
        status,
        limit,
        after: None,
    };
    let page = store.list_conversations(query).await.expect("list conversations");
    page.conversations.iter().map(|c| c.id).collect()
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
