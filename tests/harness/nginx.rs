//! nginx configured from the migration runbook's own blocks (docs/migration.md), for
//! tests/nginx.rs: the dashboard behind nginx's sign-in (HTTP Basic), its eight API paths
//! proxied to the functions with the front's secret, and the PHP host locked to its front
//! (CloudFront).
//!
//! - [`migration_block`]: an nginx block of docs/migration.md, found by the HTML comment
//!   just before its fence (`<!-- tested: tests/nginx.rs (NAME) -->`), not by its position.
//! - [`TestCa`]: a private certificate authority (openssl) and a certificate it issued for
//!   the API's name, so that the runbook's `proxy_ssl_verify on` holds against the test's
//!   stand-in for API Gateway.
//! - [`Nginx`]: a private nginx (its own prefix, configuration, pid, logs and temporary
//!   folders in a temporary folder; `daemon off`, one process, loopback ports), stopped on
//!   drop.
//! - [`PhpSite`]: the legacy files under the base path `/panel`, with a router standing in
//!   for the site's own PHP handling (php-fpm, or Apache's `.htaccess`): files as they are,
//!   the rest through the panel's `index.php`.
//! - [`request`]: one HTTP/1.0 request with any method and headers, the whole answer.

use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::browser::{LegacyApp, PhpServer, Prerequisites, output_dir, wait_until_listening};
use crate::mariadb::LegacyDb;
use crate::workspace_root;

/// The API's host name in the runbook's examples (from `ApiUrl`); the test keeps it and makes
/// it resolve to its own TLS server through an upstream group of that name.
pub const API_HOST: &str = "abc123.execute-api.us-east-1.amazonaws.com";
/// The dashboard's name in the runbook's examples.
pub const DASHBOARD_HOST: &str = "panel.example.com";
/// The document whose nginx blocks the test runs, from the workspace root.
pub const MIGRATION_DOC: &str = "docs/migration.md";

/// The nginx block of docs/migration.md marked `<!-- tested: tests/nginx.rs (NAME) -->`: the
/// text between the ```` ```nginx ```` fence right after the marker and the closing fence.
pub fn migration_block(name: &str) -> String {
    let runbook = std::fs::read_to_string(workspace_root().join(MIGRATION_DOC))
        .unwrap_or_else(|e| panic!("read {MIGRATION_DOC}: {e}"));
    let marker = format!("<!-- tested: tests/nginx.rs ({name}) -->");
    let mut found = runbook.match_indices(&marker);
    let (at, _) = found
        .next()
        .unwrap_or_else(|| panic!("{MIGRATION_DOC} has no {marker}"));
    assert!(found.next().is_none(), "{MIGRATION_DOC} has {marker} twice");
    let mut lines = runbook[at + marker.len()..].lines().skip(1);
    assert_eq!(
        lines.next().map(str::trim_end),
        Some("```nginx"),
        "{marker} is not right before an nginx fence"
    );
    let mut block = String::new();
    for line in lines {
        if line.trim_end() == "```" {
            return block;
        }
        block.push_str(line);
        block.push('\n');
    }
    panic!("the block after {marker} has no closing fence");
}

/// `text` with each `(from, to)` replaced; every `from` must be there (the runbook changed
/// otherwise, and the test would no longer test what it says).
pub fn substitute(text: &str, what: &str, substitutions: &[(&str, &str)]) -> String {
    let mut text = text.to_string();
    for (from, to) in substitutions {
        assert!(
            text.contains(from),
            "the runbook's {what} block ({MIGRATION_DOC}) no longer has {from:?}:\n{text}"
        );
        text = text.replace(from, to);
    }
    text
}

/// A new temporary folder of this process.
pub fn temp_folder(prefix: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port()
}

fn run(what: &str, cmd: &mut Command) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate authority of the test's own, and a server certificate it issued for
/// [`API_HOST`]: API Gateway's certificate as far as the runbook's lines can tell.
pub struct TestCa {
    /// The authority's certificate: what `proxy_ssl_trusted_certificate` names.
    pub ca_cert: PathBuf,
    /// The server's certificate and key, for the API's stand-in.
    pub cert: PathBuf,
    pub key: PathBuf,
}

const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = convo test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:abc123.execute-api.us-east-1.amazonaws.com
";

impl TestCa {
    pub fn new(dir: &Path) -> TestCa {
        let cnf = dir.join("openssl.cnf");
        std::fs::write(&cnf, OPENSSL_CNF).expect("write openssl.cnf");
        let (ca_key, ca_cert) = (dir.join("ca.key"), dir.join("ca.pem"));
        let (key, csr, cert) = (dir.join("api.key"), dir.join("api.csr"), dir.join("api.pem"));
        run(
            "openssl req -x509 (the test CA)",
            Command::new("openssl")
                .args(["req", "-x509", "-config"])
                .arg(&cnf)
                .args([
                    "-extensions",
                    "ca",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                ])
                .args(["-nodes", "-days", "2", "-subj", "/CN=convo test CA", "-keyout"])
                .arg(&ca_key)
                .arg("-out")
                .arg(&ca_cert),
        );
        run(
            "openssl req (the API's key and request)",
            Command::new("openssl")
                .args(["req", "-new", "-config"])
                .arg(&cnf)
                .args([
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                ])
                .arg("-subj")
                .arg(format!("/CN={API_HOST}"))
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&csr),
        );
        run(
            "openssl x509 -req (the API's certificate)",
            Command::new("openssl")
                .args(["x509", "-req", "-in"])
                .arg(&csr)
                .arg("-CA")
                .arg(&ca_cert)
                .arg("-CAkey")
                .arg(&ca_key)
                .args(["-set_serial", "2", "-days", "2", "-extfile"])
                .arg(&cnf)
                .args(["-extensions", "leaf", "-out"])
                .arg(&cert),
        );
        TestCa { ca_cert, cert, key }
    }
}

/// An htpasswd line for `user`, hashed as the runbook says (`openssl passwd -6`: SHA-512
/// crypt).
pub fn htpasswd_line(user: &str, password: &str) -> String {
    let mut child = Command::new("openssl")
        .args(["passwd", "-6", "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run openssl passwd");
    child
        .stdin
        .take()
        .expect("openssl's stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write the password");
    let out = child.wait_with_output().expect("openssl passwd");
    assert!(out.status.success(), "openssl passwd -6 failed");
    let hash = String::from_utf8(out.stdout).expect("a hash");
    assert!(hash.starts_with("$6$"), "not a SHA-512 crypt hash: {hash}");
    format!("{user}:{}\n", hash.trim())
}

/// A private nginx: `daemon off`, one process (`master_process off`), everything it writes
/// in its folder. Killed on drop.
pub struct Nginx {
    pub dir: PathBuf,
    pub error_log: PathBuf,
    child: Child,
}

impl Nginx {
    /// Writes `http` (the inside of the `http {}` block; relative `include`s are from
    /// `dir`) into `dir/nginx.conf`, checks it (`nginx -t`), starts nginx and waits until
    /// every port of `ports` accepts connections.
    pub fn start(pre: &Prerequisites, dir: &Path, http: &str, ports: &[u16]) -> Nginx {
        let nginx = pre.nginx.clone().expect("prerequisites_with_nginx()");
        let error_log = dir.join("error.log");
        let temp = dir.join("temp");
        std::fs::create_dir_all(&temp).expect("create nginx's temp folder");
        let d = dir.display();
        let t = temp.display();
        let conf = format!(
            "# Written by tests/harness/nginx.rs.\n\
             daemon off;\n\
             master_process off;\n\
             worker_processes 1;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\n\
             events {{ worker_connections 512; }}\n\
             http {{\n\
             access_log {d}/access.log;\n\
             client_body_temp_path {t}/body;\n\
             proxy_temp_path {t}/proxy;\n\
             fastcgi_temp_path {t}/fastcgi;\n\
             uwsgi_temp_path {t}/uwsgi;\n\
             scgi_temp_path {t}/scgi;\n\
             default_type application/octet-stream;\n\
             {http}\n\
             }}\n"
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, &conf).expect("write nginx.conf");
        let base = |cmd: &mut Command| {
            cmd.arg("-p")
                .arg(dir)
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(&error_log);
        };
        let mut check = Command::new(&nginx);
        base(&mut check);
        let out = check.arg("-t").output().expect("run nginx -t");
        assert!(
            out.status.success(),
            "nginx -t refuses the configuration:\n{}\n--- {}:\n{conf}",
            String::from_utf8_lossy(&out.stderr),
            conf_path.display()
        );
        let mut cmd = Command::new(&nginx);
        base(&mut cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        wait_until_listening(&mut child, "nginx", ports, &error_log);
        Nginx {
            dir: dir.to_path_buf(),
            error_log,
            child,
        }
    }

    /// The error log so far (for a failure's message).
    pub fn errors(&self) -> String {
        std::fs::read_to_string(&self.error_log).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Kept for a failed test's post-mortem: the logs go next to the browser test's.
        let keep = output_dir().join(format!(
            "nginx-{}-{}",
            std::process::id(),
            self.dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let _ = std::fs::create_dir_all(&keep);
        for log in ["error.log", "access.log", "nginx.conf"] {
            let _ = std::fs::copy(self.dir.join(log), keep.join(log));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The router of [`PhpSite`]: the site's PHP handling, as php-fpm or the panel's
/// `.htaccess` does it. Marks its answers with `X-Test-Site: php`.
const SITE_ROUTER: &str = r#"<?php
// Written by tests/harness/nginx.rs: the site's own PHP handling, standing in for php-fpm
// or Apache. The panel's files are under /panel/; a file is served as it is, anything else
// goes to the panel's index.php (as its .htaccess rewrites it), which takes its base path
// from SCRIPT_NAME.
header('X-Test-Site: php');
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if ($path !== '/panel' && strncmp($path, '/panel/', 7) !== 0) {
    http_response_code(404);
    echo "not the panel\n";
    return true;
}
if (is_file(__DIR__ . $path)) {
    return false;
}
$_SERVER['SCRIPT_NAME'] = '/panel/index.php';
$_SERVER['PHP_SELF'] = '/panel/index.php';
$_SERVER['SCRIPT_FILENAME'] = __DIR__ . '/panel/index.php';
chdir(__DIR__ . '/panel');
require __DIR__ . '/panel/index.php';
"#;

/// The legacy panel under `/panel/` of a site served by `php -S`.
pub struct PhpSite {
    pub php: PhpServer,
    docroot: PathBuf,
}

impl PhpSite {
    pub fn start(pre: &Prerequisites, app: &LegacyApp, db: &LegacyDb) -> PhpSite {
        let docroot = temp_folder("convo-php-site");
        std::os::unix::fs::symlink(&app.dir, docroot.join("panel")).expect("link the panel's files");
        let router = docroot.join("site-router.php");
        std::fs::write(&router, SITE_ROUTER).expect("write the site's router");
        let php = PhpServer::start_at(pre, &docroot, &router, db);
        PhpSite { php, docroot }
    }

    pub fn port(&self) -> u16 {
        self.php.port
    }
}

impl Drop for PhpSite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.docroot);
    }
}

/// A whole HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::apigw::header(&self.headers, name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), HTTP {}: {}", self.status, self.text()))
    }
}

/// `Authorization: Basic …` for `user:password`.
pub fn basic(user: &str, password: &str) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{user}:{password}").into_bytes();
    let mut out = String::from("Basic ");
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One HTTP/1.0 request to 127.0.0.1:`port` (Host: [`DASHBOARD_HOST`] unless `headers`
/// has one). The answer ends at its Content-Length, or when the server closes.
pub fn request(port: u16, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let what = format!("{method} {target} on :{port}");
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("{what}: connect: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("set a read time-out");
    let mut head = format!("{method} {target} HTTP/1.0\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {DASHBOARD_HOST}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .unwrap_or_else(|e| panic!("{what}: send: {e}"));
    let mut reader = std::io::BufReader::new(stream);
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("{what}: read the answer's head: {e}"));
        assert!(n > 0, "{what}: the connection closed in the answer's head");
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    let status = lines
        .first()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no status line in {lines:?}"));
    let headers: Vec<(String, String)> = lines[1..]
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = Vec::new();
    let read = match length {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body)
        }
        None => reader.read_to_end(&mut body).map(|_| ()),
    };
    read.unwrap_or_else(|e| panic!("{what}: read the answer's body: {e}"));
    Answer {
        status,
        headers,
        body,
    }
}
