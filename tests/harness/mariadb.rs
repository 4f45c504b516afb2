//! A real MariaDB server for the tests of the legacy MySQL side (`convo-admin sync`, catch-up
//! imports of dumps): one private server per test binary, started on first use by
//! scripts/mariadb-local.sh on a free loopback port ([`mariadb`]; a test may start one of its
//! own with other options, e.g. TLS on another address: [`MariaDb::start`]), with a data directory and socket of its
//! own in a temporary folder (never the system's MariaDB, if one runs), and gone — folder
//! included — when the test binary exits, however it exits (the launcher stops the server
//! when the pipe this process holds to its stdin closes). Its error log is under
//! target/mariadb-logs/.
//!
//! `make mariadb` (a part of `make test`, hence of `.ci/run`) installs Debian's
//! mariadb-server and mariadb-client when they are missing and it runs as root; otherwise it
//! says what to install.
//!
//! The server runs as the legacy one did: utf8mb4 (utf8mb4_unicode_ci), time zone -05:00
//! (America/Bogota, no DST). Two accounts reach it over TCP from its own address (127.0.0.1
//! unless [`ServerOptions::address`] says otherwise) with a password:
//! [`ADMIN_USER`] with every privilege (the old PHP application's part: writes rows) and
//! [`READER_USER`] with SELECT only on the test databases (`legacy\_%`: what the sync is
//! given). Every test takes a database of its own from [`MariaDb::database`], with the
//! legacy schema (tests/fixtures/legacy/schema.sql) loaded.
//!
//! ```no_run
//! # async fn example() {
//! use integration_tests::mariadb::mariadb;
//! use mysql_async::prelude::*;
//! let db = mariadb().database("sync").await;
//! let mut conn = db.admin().await;
//! conn.query_drop("INSERT INTO conversations (phone_number) VALUES ('573001112233')")
//!     .await
//!     .unwrap();
//! // db.reader_url is the LEGACY_MYSQL_URL the sync is given; db.dump(path, &[]) dumps it.
//! # }
//! ```

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::workspace_root;

/// The account with every privilege (it creates the test databases and writes their rows).
pub const ADMIN_USER: &str = "legacy_admin";
pub const ADMIN_PASSWORD: &str = "legacy-admin-pw";
/// The read-only account: SELECT on the test databases, nothing else.
pub const READER_USER: &str = "sync_reader";
pub const READER_PASSWORD: &str = "sync-reader-pw";

/// The legacy schema (conversations, messages), loaded into every test database.
pub const SCHEMA_PATH: &str = "tests/fixtures/legacy/schema.sql";

/// How long the server may take to be ready (install of the data directory included).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How a server of a test's own is started ([`MariaDb::start`]).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The one address it listens on (and that the accounts connect from: a client on this
    /// machine connecting to it comes from it). 127.0.0.1 by default.
    pub address: IpAddr,
    /// More mariadbd options (e.g. `--ssl-cert=…`), after the launcher's own.
    pub server_args: Vec<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            server_args: Vec::new(),
        }
    }
}

pub struct MariaDb {
    /// The address it listens on (127.0.0.1 for [`mariadb`]).
    pub address: IpAddr,
    /// The TCP port, on [`MariaDb::address`].
    pub port: u16,
    /// The server's socket (root's way in: unix_socket authentication, no password).
    pub socket: PathBuf,
    /// The server's error log (under target/mariadb-logs/).
    pub error_log: PathBuf,
    /// The operating-system user this runs as: the account the socket logs in as (root, or
    /// the user mariadb-install-db made an administrator of when that is not root).
    os_user: String,
    /// Numbers the databases of [`MariaDb::database`].
    databases: AtomicU32,
    /// Holds the launcher's stdin open: the server runs until this process exits.
    _child: Child,
}

/// The MariaDB server of this test process, started on first use.
pub fn mariadb() -> &'static MariaDb {
    static SERVER: OnceLock<MariaDb> = OnceLock::new();
    SERVER.get_or_init(|| MariaDb::start(&ServerOptions::default()))
}

impl MariaDb {
    /// A server of the caller's own, with the legacy accounts, ready; it stops (its folder
    /// removed) when this value is dropped or the process exits.
    pub fn start(options: &ServerOptions) -> MariaDb {
        start_mariadb(options)
    }
}

fn start_mariadb(options: &ServerOptions) -> MariaDb {
    let address = options.address;
    let log_dir = workspace_root().join("target/mariadb-logs");
    std::fs::create_dir_all(&log_dir).expect("create target/mariadb-logs");
    let pid = std::process::id();
    let error_log = log_dir.join(format!("mariadb-{pid}.err"));
    let launcher_log = log_dir.join(format!("mariadb-{pid}.log"));
    // A folder of this process's own (the launcher creates it and removes it when it stops).
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("convo-mariadb-{pid}-{nanos}"));
    let socket = dir.join("sock");
    // A port that was free a moment ago; mariadbd cannot be asked to pick one and report it.
    let port = TcpListener::bind((address, 0))
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port();
    let os_user = os_user();
    let log = std::fs::File::create(&launcher_log).expect("create the MariaDB launcher log");
    let mut child = Command::new(workspace_root().join("scripts/mariadb-local.sh"))
        .arg(port.to_string())
        .arg(&dir)
        .arg(&error_log)
        .arg(format!("--bind-address={address}"))
        .args(&options.server_args)
        .env("MARIADB_LOCAL_UNTIL_EOF", "1")
        .stdin(Stdio::piped())
        .stdout(log.try_clone().expect("clone the log handle"))
        .stderr(log)
        .spawn()
        .expect("start scripts/mariadb-local.sh");
    let logs = || {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "--- {} ---\n{}\n--- {} ---\n{}",
            launcher_log.display(),
            read(&launcher_log),
            error_log.display(),
            read(&error_log)
        )
    };
    // Readiness: a query over the socket answers (the launcher exiting means it failed).
    let started = Instant::now();
    loop {
        if socket.exists() && root_client(&socket, &os_user, "SELECT 1").is_ok() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("MariaDB did not start ({status}):\n{}", logs());
        }
        if started.elapsed() > START_TIMEOUT {
            panic!(
                "MariaDB did not answer on {} within {START_TIMEOUT:?}:\n{}",
                socket.display(),
                logs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let server = MariaDb {
        address,
        port,
        socket,
        error_log,
        os_user,
        databases: AtomicU32::new(0),
        _child: child,
    };
    // The accounts. The anonymous ones mariadb-install-db makes go (as
    // mysql_secure_installation would have them go on the legacy server), and its `test`
    // database with them.
    server.sql_as_root(&format!(
        "DELETE FROM mysql.global_priv WHERE User = '';
         FLUSH PRIVILEGES;
         DROP DATABASE IF EXISTS test;
         CREATE USER '{ADMIN_USER}'@'{address}' IDENTIFIED BY '{ADMIN_PASSWORD}';
         GRANT ALL PRIVILEGES ON *.* TO '{ADMIN_USER}'@'{address}';
         CREATE USER '{READER_USER}'@'{address}' IDENTIFIED BY '{READER_PASSWORD}';
         GRANT SELECT ON `legacy\\_%`.* TO '{READER_USER}'@'{address}';"
    ));
    server
}

/// The name of the user this process runs as (`id -un`).
fn os_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    assert!(out.status.success(), "id -un failed");
    String::from_utf8(out.stdout)
        .expect("a UTF-8 user name")
        .trim()
        .to_owned()
}

/// Runs `sql` with the `mariadb` client over the socket as the administrator the socket
/// authenticates; its output (tab-separated rows, no column names) or its error text.
fn root_client(socket: &Path, os_user: &str, sql: &str) -> Result<String, String> {
    let mut child = Command::new("mariadb")
        .arg("--no-defaults")
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--user={os_user}"))
        .args([
            "--default-character-set=utf8mb4",
            "--batch",
            "--skip-column-names",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run the mariadb client (make mariadb installs it): {e}"))?;
    child
        .stdin
        .take()
        .expect("the client's stdin")
        .write_all(sql.as_bytes())
        .map_err(|e| format!("write to the mariadb client: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("wait for the mariadb client: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl MariaDb {
    /// The address as a URL's host (an IPv6 one in brackets).
    pub fn host(&self) -> String {
        match self.address {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        }
    }

    /// Runs `sql` (any number of statements) as root over the socket with the `mariadb`
    /// client; its output: rows tab-separated, one a line, no column names. Panics on error.
    pub fn sql_as_root(&self, sql: &str) -> String {
        root_client(&self.socket, &self.os_user, sql).unwrap_or_else(|e| panic!("as root: {sql}\n{e}"))
    }

    /// A new database of its own, `legacy_<prefix>_<n>` (utf8mb4), with the legacy schema
    /// loaded, made by [`ADMIN_USER`]. `prefix`: ASCII letters, digits and `_`.
    pub async fn database(&self, prefix: &str) -> LegacyDb {
        use mysql_async::prelude::Queryable;
        assert!(
            !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "a database prefix is ASCII letters, digits and _: {prefix:?}"
        );
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("legacy_{prefix}_{n}");
        assert!(name.len() <= 64, "database name too long: {name}");
        let url = |user: &str, password: &str, db: &str| {
            format!("mysql://{user}:{password}@{}:{}/{db}", self.host(), self.port)
        };
        let schema = std::fs::read_to_string(workspace_root().join(SCHEMA_PATH))
            .unwrap_or_else(|e| panic!("read {SCHEMA_PATH}: {e}"));
        let mut conn = mysql_async::Conn::from_url(url(ADMIN_USER, ADMIN_PASSWORD, ""))
            .await
            .expect("connect as legacy_admin");
        conn.query_drop(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        ))
        .await
        .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        conn.query_drop(format!("USE `{name}`;\n{schema}"))
            .await
            .unwrap_or_else(|e| panic!("load {SCHEMA_PATH} into {name}: {e}"));
        conn.disconnect().await.expect("disconnect");
        LegacyDb {
            admin_url: url(ADMIN_USER, ADMIN_PASSWORD, &name),
            reader_url: url(READER_USER, READER_PASSWORD, &name),
            port: self.port,
            socket: self.socket.clone(),
            os_user: self.os_user.clone(),
            name,
        }
    }
}

/// A database of the test server with the legacy schema, for one test.
pub struct LegacyDb {
    /// `legacy_<prefix>_<n>`.
    pub name: String,
    /// `mysql://legacy_admin:…@<address>:<port>/<name>`: every privilege.
    pub admin_url: String,
    /// `mysql://sync_reader:…@<address>:<port>/<name>`: SELECT only (the sync's URL).
    pub reader_url: String,
    pub port: u16,
    socket: PathBuf,
    os_user: String,
}

impl LegacyDb {
    /// A connection as [`ADMIN_USER`] to this database. Its session time zone is the server's
    /// (-05:00), as the legacy PHP application's connections had it.
    pub async fn admin(&self) -> mysql_async::Conn {
        mysql_async::Conn::from_url(&self.admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect as {ADMIN_USER} to {}: {e}", self.name))
    }

    /// A connection as [`READER_USER`] (SELECT only) to this database.
    pub async fn reader(&self) -> mysql_async::Conn {
        mysql_async::Conn::from_url(&self.reader_url)
            .await
            .unwrap_or_else(|e| panic!("connect as {READER_USER} to {}: {e}", self.name))
    }

    /// `convo-admin sync` with `args` (the binary at `convo_admin`: a test's
    /// `CARGO_BIN_EXE_convo-admin`) as a process over `table` in DynamoDB Local, reading this
    /// database as [`READER_USER`], its output appended to `log`; `env` adds to (or
    /// overrides) its environment.
    pub fn sync_process(
        &self,
        convo_admin: &str,
        table: &str,
        args: &[&str],
        env: &[(&str, &str)],
        log: &Path,
    ) -> Child {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
        Command::new(convo_admin)
            .arg("sync")
            .args(args)
            .env("TABLE_NAME", table)
            .env("LEGACY_MYSQL_URL", &self.reader_url)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_ENDPOINT_URL_DYNAMODB", &crate::dynamodb().endpoint)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("the log's handle"))
            .stderr(out)
            .spawn()
            .expect("start convo-admin sync")
    }

    /// Dumps this database into `path` with `mariadb-dump` (over the socket, as root), as the
    /// committed fixtures were made (`--default-character-set=utf8mb4 --skip-dump-date`),
    /// then `extra_args` (e.g. `--skip-tz-utc`, `--complete-insert`). Panics on failure.
    pub fn dump(&self, path: &Path, extra_args: &[&str]) {
        let file = std::fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        let out = Command::new("mariadb-dump")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .arg(format!("--user={}", self.os_user))
            .args(["--default-character-set=utf8mb4", "--skip-dump-date"])
            .args(extra_args)
            .arg(&self.name)
            .stdout(file)
            .stderr(Stdio::piped())
            .output()
            .expect("run mariadb-dump (make mariadb installs it)");
        assert!(
            out.status.success(),
            "mariadb-dump {} into {} failed ({}): {}",
            self.name,
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
