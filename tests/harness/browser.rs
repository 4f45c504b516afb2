//! The original (legacy PHP) dashboard page in a real browser, talking to this project's
//! API, for tests/browser.rs.
//!
//! - [`LegacyApp`]: the legacy application's files, extracted at test time from its git
//!   repository into a temporary folder (never into this repository), with a small
//!   `vendor/autoload.php` of the harness's own for its `App\` classes (its Composer
//!   dependencies are not needed to render the page, and are not available).
//! - [`PhpServer`]: `php -S` serving those files, with the legacy `router.php`, connected to
//!   the test's MariaDB database (the page's render only opens the connection).
//! - [`Gateway`]: one loopback HTTP server in front of both, as docs/migration.md's
//!   "Routing the API paths" has it: the API's eight paths ([`crate::apigw::route`]) go to the functions'
//!   handlers in-process (API Gateway 2.0 events, with the request's headers), everything
//!   else to `php -S`. It logs the API requests (with the event's headers), for the test's
//!   assertions and a failure's report.
//! - [`Browser`]: headless Chromium (Debian's package) driven by tests/browser/page.mjs
//!   with playwright-core (from .tools/node, `make node-tools`), one JSON command a line.
//!
//! [`prerequisites`] finds what this needs (chromium, php with pdo_mysql, node with
//! playwright-core, the legacy repository) and, when something is missing, says so in one
//! line and returns `None` (the test skips), unless `BROWSER_TEST_REQUIRED=1`: then it panics
//! with what to install. [`prerequisites_with_nginx`] adds nginx and openssl (tests/nginx.rs).
//! `make browser` (a part of `make test`) installs the Debian packages as root.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use shared::http::App;

use crate::http1::{read_message, request_line};
use crate::mariadb::{LegacyDb, READER_PASSWORD, READER_USER};
use crate::{apigw, workspace_root};

/// The legacy dashboard's repository, as the workplace's mirror names it.
const LEGACY_MIRROR: &str = "JorgeForero02+Bot-whatsapp-php/repo";

/// Where the logs and a failure's screenshot go.
pub fn output_dir() -> PathBuf {
    let dir = workspace_root().join("target/browser-test");
    std::fs::create_dir_all(&dir).expect("create target/browser-test");
    dir
}

/// What the browser test needs, found.
#[derive(Debug, Clone)]
pub struct Prerequisites {
    pub chromium: PathBuf,
    pub php: PathBuf,
    pub node: PathBuf,
    /// The playwright-core package's folder.
    pub playwright: PathBuf,
    /// `git` arguments that name the legacy repository (`--git-dir X` or `-C X`).
    legacy_git: Vec<OsString>,
    /// The legacy repository, for messages.
    pub legacy_repo: PathBuf,
    /// nginx (tests/nginx.rs), when asked for: [`prerequisites_with_nginx`].
    pub nginx: Option<PathBuf>,
}

/// The prerequisites, or `None` after one line saying what is missing (the test then
/// returns: skipped). With `BROWSER_TEST_REQUIRED=1` a missing one fails the test instead.
pub fn prerequisites() -> Option<Prerequisites> {
    prerequisites_for("browser test", false)
}

/// The same, with nginx and openssl too (tests/nginx.rs: the page behind nginx's sign-in).
pub fn prerequisites_with_nginx() -> Option<Prerequisites> {
    prerequisites_for("nginx test", true)
}

fn prerequisites_for(test: &str, with_nginx: bool) -> Option<Prerequisites> {
    match find_prerequisites(with_nginx) {
        Ok(p) => Some(p),
        Err(missing) => {
            let required = std::env::var("BROWSER_TEST_REQUIRED").is_ok_and(|v| v == "1");
            let what = missing.join("; ");
            if required {
                panic!(
                    "BROWSER_TEST_REQUIRED=1 and the {test} cannot run: {what}. \
                     Install: apt-get install chromium php-cli php-mysql nginx-light (or `make browser` as root), \
                     `make node-tools` for playwright-core, and set LEGACY_DASHBOARD_GIT to a clone \
                     of the legacy dashboard's repository"
                );
            }
            // Straight to the process's stderr, past the test harness's capture: a skip is
            // visible in `make test`'s output.
            let _ = writeln!(
                std::io::stderr(),
                "{test} skipped: {what} (BROWSER_TEST_REQUIRED=1 makes this a failure)"
            );
            None
        }
    }
}

fn find_prerequisites(with_nginx: bool) -> Result<Prerequisites, Vec<String>> {
    let mut missing = Vec::new();
    let nginx = with_nginx.then(|| {
        let found = std::env::var_os("NGINX")
            .map(PathBuf::from)
            .or_else(|| {
                ["/usr/sbin/nginx", "/usr/bin/nginx"]
                    .iter()
                    .map(PathBuf::from)
                    .find(|p| p.is_file())
            })
            .unwrap_or_else(|| PathBuf::from("nginx"));
        let runs = |program: &Path, arg: &str| {
            Command::new(program)
                .arg(arg)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !runs(&found, "-v") {
            missing.push("no nginx (apt-get install nginx-light)".to_string());
        }
        if !runs(Path::new("openssl"), "version") {
            missing.push("no openssl (apt-get install openssl)".to_string());
        }
        found
    });
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        })
        .filter(|p| p.is_file());
    if chromium.is_none() {
        missing.push("no chromium (apt-get install chromium)".to_string());
    }
    let php = PathBuf::from("php");
    match Command::new(&php).arg("-m").output() {
        Ok(out) if out.status.success() => {
            let modules = String::from_utf8_lossy(&out.stdout);
            if !modules.lines().any(|l| l.trim() == "pdo_mysql") {
                missing.push("php has no pdo_mysql (apt-get install php-mysql)".to_string());
            }
        }
        _ => missing.push("no php (apt-get install php-cli php-mysql)".to_string()),
    }
    let node = PathBuf::from("node");
    if !Command::new(&node)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        missing.push("no node (apt-get install nodejs)".to_string());
    }
    let playwright = workspace_root().join(".tools/node/node_modules/playwright-core");
    if !playwright.join("index.mjs").is_file() {
        missing.push(format!(
            "no playwright-core in {} (make node-tools)",
            playwright.display()
        ));
    }
    let legacy = legacy_repository();
    if let Err(e) = &legacy {
        missing.push(e.clone());
    }
    match (chromium, legacy) {
        (Some(chromium), Ok((legacy_git, legacy_repo))) if missing.is_empty() => Ok(Prerequisites {
            chromium,
            php,
            node,
            playwright,
            legacy_git,
            legacy_repo,
            nginx,
        }),
        _ => Err(missing),
    }
}

/// The legacy dashboard's repository: `LEGACY_DASHBOARD_GIT` (a git directory or a
/// checkout), else the workplace's mirror beside this checkout or beside the repository it
/// was cloned from (a CI clone in another folder).
fn legacy_repository() -> Result<(Vec<OsString>, PathBuf), String> {
    let usable = |p: &Path| -> Option<Vec<OsString>> {
        let try_args = |args: Vec<OsString>| {
            Command::new("git")
                .args(&args)
                .args(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
                .then_some(args)
        };
        if !p.is_dir() {
            return None;
        }
        if p.join("HEAD").is_file() && p.join("objects").is_dir() {
            try_args(vec!["--git-dir".into(), p.into()])
        } else {
            try_args(vec!["-C".into(), p.into()])
        }
    };
    if let Some(p) = std::env::var_os("LEGACY_DASHBOARD_GIT").map(PathBuf::from) {
        return usable(&p).map(|args| (args, p.clone())).ok_or_else(|| {
            format!(
                "LEGACY_DASHBOARD_GIT={} is not a git repository with a HEAD",
                p.display()
            )
        });
    }
    let mut bases = vec![workspace_root().to_path_buf()];
    if let Ok(out) = Command::new("git")
        .arg("-C")
        .arg(workspace_root())
        .args(["remote", "get-url", "origin"])
        .output()
    {
        let origin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && origin.is_dir() {
            bases.push(origin);
        }
    }
    let candidates: Vec<PathBuf> = bases
        .iter()
        .map(|b| b.join("..").join(".mirror").join(LEGACY_MIRROR))
        .collect();
    for c in &candidates {
        if let Some(args) = usable(c) {
            return Ok((args, c.clone()));
        }
    }
    Err(format!(
        "no legacy dashboard repository (set LEGACY_DASHBOARD_GIT; looked in {})",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn temp_folder(prefix: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port()
}

/// The autoloader the legacy `index.php` requires (`vendor/autoload.php`), for its own
/// `App\` classes only (PSR-4 from `src/`, as its composer.json maps them).
const AUTOLOAD: &str = r"<?php
// Written by the test harness (tests/harness/browser.rs): the application's own classes,
// App\ => src/ (PSR-4). Its Composer packages are not installed; rendering a page needs none.
spl_autoload_register(function ($class) {
    if (strncmp($class, 'App\\', 4) !== 0) {
        return;
    }
    $file = dirname(__DIR__) . '/src/' . str_replace('\\', '/', substr($class, 4)) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
";

/// The legacy application's files (HEAD of its repository) in a temporary folder, removed
/// on drop.
/// Waits until `child` (`what`) accepts connections on every one of `ports`, or fails with
/// its `log` when it exits first or takes over a minute (a loaded 2-core machine).
pub fn wait_until_listening(child: &mut Child, what: &str, ports: &[u16], log: &Path) {
    let started = Instant::now();
    for port in ports {
        while TcpStream::connect(("127.0.0.1", *port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{what} exited ({status}):\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what} did not listen on {port} within 60 s; see {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub struct LegacyApp {
    pub dir: PathBuf,
    pub commit: String,
}

impl LegacyApp {
    pub fn extract(pre: &Prerequisites) -> LegacyApp {
        let dir = temp_folder("convo-legacy-page");
        let commit = Command::new("git")
            .args(&pre.legacy_git)
            .args(["rev-parse", "HEAD"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let mut git = Command::new("git")
            .args(&pre.legacy_git)
            .args(["archive", "--format=tar", "HEAD"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run git archive");
        let tar = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(&dir)
            // A release archive the repository carries; the page does not need it.
            .arg("--exclude=*.zip")
            .stdin(git.stdout.take().expect("git's stdout"))
            .status()
            .expect("run tar");
        let git = git.wait().expect("wait for git archive");
        assert!(
            git.success() && tar.success(),
            "extracting {} failed (git {git}, tar {tar})",
            pre.legacy_repo.display()
        );
        for file in [
            "index.php",
            "router.php",
            "views/conversations.php",
            "assets/js/conversations.js",
        ] {
            assert!(
                dir.join(file).is_file(),
                "the legacy repository has no {file}: not the dashboard this test is about"
            );
        }
        std::fs::create_dir_all(dir.join("vendor")).expect("create vendor/");
        std::fs::write(dir.join("vendor/autoload.php"), AUTOLOAD).expect("write vendor/autoload.php");
        std::fs::create_dir_all(dir.join("logs")).expect("create logs/");
        LegacyApp { dir, commit }
    }
}

impl Drop for LegacyApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `php -S` on a loopback port over the legacy files, with the legacy router, its database
/// settings (the environment variables its config/config.php reads) aimed at `db` as the
/// SELECT-only account. Stopped (killed) on drop.
pub struct PhpServer {
    pub port: u16,
    pub log: PathBuf,
    child: Child,
}

impl PhpServer {
    pub fn start(pre: &Prerequisites, app: &LegacyApp, db: &LegacyDb) -> PhpServer {
        PhpServer::start_at(pre, &app.dir, &app.dir.join("router.php"), db)
    }

    /// `php -S` over `docroot` with `router`, the same way (a site that holds the legacy
    /// files under a base path, say).
    pub fn start_at(pre: &Prerequisites, docroot: &Path, router: &Path, db: &LegacyDb) -> PhpServer {
        let port = free_port();
        let log = output_dir().join(format!("php-{}-{port}.log", std::process::id()));
        let out = std::fs::File::create(&log).expect("create the php log");
        let sessions = docroot.join(".sessions");
        std::fs::create_dir_all(&sessions).expect("create the session folder");
        let mut child = Command::new(&pre.php)
            .arg("-d")
            .arg(format!("session.save_path={}", sessions.display()))
            .args([
                "-d",
                "display_errors=0",
                "-d",
                "log_errors=1",
                "-d",
                "opcache.enable_cli=0",
            ])
            .arg("-S")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-t")
            .arg(docroot)
            .arg(router)
            .current_dir(docroot)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DB_HOST", "127.0.0.1")
            .env("DB_PORT", db.port.to_string())
            .env("DB_NAME", &db.name)
            .env("DB_USER", READER_USER)
            .env("DB_PASSWORD", READER_PASSWORD)
            .env("APP_DEBUG", "false")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone the log handle"))
            .stderr(out)
            .spawn()
            .expect("start php -S");
        wait_until_listening(&mut child, "php -S", &[port], &log);
        PhpServer { port, log, child }
    }
}

impl Drop for PhpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One API request the gateway answered.
#[derive(Debug, Clone)]
pub struct ApiCall {
    /// When the answer was ready.
    pub at: Instant,
    pub target: String,
    /// The event's `headers`, as the function got them (names in lower case).
    pub headers: Vec<(String, String)>,
    pub status: u16,
    pub body: String,
}

impl ApiCall {
    /// The event's header `name` (lower case), if it had one.
    pub fn header(&self, name: &str) -> Option<&str> {
        apigw::header(&self.headers, name)
    }
}

/// The page's origin: the API's paths to the handlers, the rest to `php -S`.
pub struct Gateway {
    pub port: u16,
    calls: Arc<Mutex<Vec<ApiCall>>>,
    stop: Arc<AtomicBool>,
}

impl Gateway {
    /// `rt` runs the handlers (the test's runtime: its DynamoDB clients live there).
    pub fn start(app: App, php_port: u16, rt: tokio::runtime::Handle) -> Gateway {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the gateway");
        let port = listener.local_addr().expect("the gateway's address").port();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let app = Arc::new(app);
        {
            let (calls, stop) = (calls.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (app, calls, rt) = (app.clone(), calls.clone(), rt.clone());
                    std::thread::spawn(move || serve(conn, &app, php_port, &rt, &calls));
                }
            });
        }
        Gateway { port, calls, stop }
    }

    pub fn calls(&self) -> Vec<ApiCall> {
        self.calls.lock().expect("the call log").clone()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn serve(
    conn: TcpStream,
    app: &App,
    php_port: u16,
    rt: &tokio::runtime::Handle,
    calls: &Mutex<Vec<ApiCall>>,
) {
    let _ = conn.set_nodelay(true);
    let Ok(mut writer) = conn.try_clone() else { return };
    let mut reader = BufReader::new(conn);
    while let Some((head, body)) = read_message(&mut reader) {
        let (method, target) = request_line(&head);
        let (method, target) = (method.to_string(), target.to_string());
        let path = target.split('?').next().unwrap_or_default();
        if apigw::route(path).is_none() {
            // The PHP host's part; it closes the connection after its answer.
            proxy_to_php(&head, &body, php_port, &mut writer);
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
        let request_headers: Vec<(&str, &str)> = head
            .iter()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .collect();
        let event = apigw::event_with_headers(&method, &target, &request_headers);
        let event_headers = event["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let answer = std::panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(apigw::invoke(app, &event))));
        let (status, headers, text) = match answer {
            Ok(reply) => (reply.status, reply.headers, reply.body.to_string()),
            Err(_) => (
                502,
                vec![("content-type".to_string(), "application/json".to_string())],
                r#"{"message":"the handler panicked"}"#.to_string(),
            ),
        };
        calls.lock().expect("the call log").push(ApiCall {
            at: Instant::now(),
            target: target.clone(),
            headers: event_headers,
            status,
            body: text.clone(),
        });
        let mut out = format!(
            "HTTP/1.1 {status} {}\r\ncontent-length: {}\r\n",
            reason(status),
            text.len()
        );
        for (k, v) in headers {
            if !matches!(k.as_str(), "content-length" | "connection" | "transfer-encoding") {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        out.push_str("\r\n");
        out.push_str(&text);
        if writer.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
}

/// Sends one request to `php -S` (with `Connection: close`) and relays its answer, also
/// marked `Connection: close`.
fn proxy_to_php(head: &[String], body: &[u8], php_port: u16, client: &mut TcpStream) {
    let hop = |line: &str| {
        line.split_once(':').is_some_and(|(k, _)| {
            let k = k.trim();
            k.eq_ignore_ascii_case("connection")
                || k.eq_ignore_ascii_case("keep-alive")
                || k.eq_ignore_ascii_case("proxy-connection")
        })
    };
    let mut request = String::new();
    for (i, line) in head.iter().enumerate() {
        if i > 0 && hop(line) {
            continue;
        }
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    let answer = (|| -> std::io::Result<Vec<u8>> {
        let mut php = TcpStream::connect(("127.0.0.1", php_port))?;
        php.set_read_timeout(Some(Duration::from_secs(60)))?;
        php.write_all(request.as_bytes())?;
        php.write_all(body)?;
        let mut answer = Vec::new();
        php.read_to_end(&mut answer)?;
        Ok(answer)
    })();
    let answer = match answer {
        Ok(a) if !a.is_empty() => a,
        other => {
            let text = format!("php -S did not answer: {other:?}");
            let _ = client.write_all(
                format!(
                    "HTTP/1.1 502 Bad Gateway\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                )
                .as_bytes(),
            );
            return;
        }
    };
    // The head's Connection header, whatever PHP said, becomes `close`.
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |i| i + 4);
    let (answer_head, rest) = answer.split_at(split);
    let answer_head = String::from_utf8_lossy(answer_head);
    let mut out = String::new();
    for line in answer_head.split("\r\n").filter(|l| !l.is_empty()) {
        if !hop(line) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let _ = client
        .write_all(out.as_bytes())
        .and_then(|()| client.write_all(rest));
}

/// Headless Chromium behind tests/browser/page.mjs. Closed on drop (end of its input, then
/// killed if it lingers).
pub struct Browser {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: tokio::sync::mpsc::UnboundedReceiver<Value>,
    profile: PathBuf,
}

impl Browser {
    pub fn start(pre: &Prerequisites) -> Browser {
        let profile = temp_folder("convo-chromium-profile");
        let mut child = Command::new(&pre.node)
            .arg(workspace_root().join("tests/browser/page.mjs"))
            .env("PLAYWRIGHT_CORE", &pre.playwright)
            .env("CHROMIUM", &pre.chromium)
            .env("USER_DATA_DIR", &profile)
            // playwright-core must not look for, or fetch, browsers of its own.
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node tests/browser/page.mjs");
        let stdout = child.stdout.take().expect("the driver's stdout");
        let (tx, replies) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) if v.get("event").is_some() => {
                        println!(
                            "[page] {}: {}",
                            v["event"].as_str().unwrap_or("?"),
                            v["detail"].as_str().unwrap_or_default()
                        );
                    }
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    Err(_) => println!("[driver] {line}"),
                }
            }
        });
        Browser {
            stdin: child.stdin.take(),
            child,
            replies,
            profile,
        }
    }

    /// Sends a command and waits (at most `patience`) for its answer: the answer's fields,
    /// or its error.
    pub async fn call(&mut self, cmd: Value, patience: Duration) -> Result<Value, String> {
        let stdin = self.stdin.as_mut().ok_or("the driver's input is closed")?;
        writeln!(stdin, "{cmd}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("write to the driver: {e}"))?;
        match tokio::time::timeout(patience, self.replies.recv()).await {
            Ok(Some(reply)) if reply["ok"] == json!(true) => Ok(reply),
            Ok(Some(reply)) => Err(reply["error"].as_str().unwrap_or("failed").to_string()),
            Ok(None) => Err("the driver exited".to_string()),
            Err(_) => Err(format!("no answer from the driver within {patience:?}")),
        }
    }

    /// Closes the browser and waits for the driver to exit.
    pub async fn close(mut self) {
        let _ = self.call(json!({"op": "close"}), Duration::from_secs(20)).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
