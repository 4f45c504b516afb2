//! `convo-admin sync` over TLS to a MariaDB server across a network: a private server with a
//! certificate of a CA made here (openssl), listening on an address of this machine that is
//! not a loopback one, so that the sync's default is TLS. With the CA given (flag, URL
//! parameter or LEGACY_MYSQL_CA_FILE) it reads the legacy data into DynamoDB Local; without
//! it, it fails saying to give the CA; a URL without TLS parameters uses TLS (its account
//! REQUIRE SSL admits it) and `require_ssl=false` is refused by the server (so the default
//! is not plaintext); the password comes from LEGACY_MYSQL_PASSWORD_FILE. And a server
//! without TLS, asked for it, is said to offer none.
//!
//! Needs `openssl` (`make test` installs it as root, like MariaDB) and an address of this
//! machine other than loopback (`hostname -I`, read from the interfaces: no traffic).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::Parser;
use convo_admin::cli::{Cli, run};
use integration_tests::legacy_api::{api_matches, app_for, expected};
use integration_tests::mariadb::{LegacyDb, MariaDb, ServerOptions, mariadb};
use integration_tests::{dynamodb, sdk_config, unique_table_name};
use mysql_async::prelude::Queryable;

/// The account the TLS tests use: REQUIRE SSL, so a plaintext connection is refused by the
/// server itself.
const TLS_READER: &str = "tls_reader";
const TLS_READER_PASSWORD: &str = "tls-reader-pw-Zq7";

async fn admin(table: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec!["convo-admin", "--table", table];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv)?, &sdk_config().await).await
}

/// A folder of this test's own, removed when dropped (a failed assertion included).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("convo-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An address of this machine that is not a loopback (nor link-local) one, IPv4 first:
/// `hostname -I` lists the interfaces' addresses (getifaddrs; it sends nothing).
fn this_machine_address() -> IpAddr {
    let out = Command::new("hostname")
        .arg("-I")
        .output()
        .expect("run `hostname -I` (Debian's hostname package)");
    assert!(out.status.success(), "hostname -I failed: {out:?}");
    let listed = String::from_utf8(out.stdout).unwrap();
    let usable = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified(),
        IpAddr::V6(v6) => !v6.is_loopback() && !v6.is_unicast_link_local() && !v6.is_unspecified(),
    };
    let mut addresses: Vec<IpAddr> = listed
        .split_whitespace()
        .filter_map(|a| a.parse().ok())
        .filter(usable)
        .collect();
    addresses.sort_by_key(|ip| ip.is_ipv6());
    *addresses.first().unwrap_or_else(|| {
        panic!(
            "this machine has no address but loopback ones (hostname -I: {listed:?}): the TLS test needs one \
             (any interface's, e.g. eth0 or docker0) to reach MariaDB as a server across a network"
        )
    })
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (make test installs it: apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`<name>.pem`, `<name>.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=convo-admin test {name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// The server's certificate for `address` (its subjectAltName), signed by CA `ca`.
fn make_server_certificate(dir: &Path, ca: &str, address: IpAddr) {
    std::fs::write(
        dir.join("server.ext"),
        format!(
            "subjectAltName=IP:{address}\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/CN={address}"),
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
}

/// The private server: TLS with a certificate of `ca`, on `address`, with the REQUIRE SSL
/// account.
fn tls_server(certs: &TempDir, address: IpAddr) -> MariaDb {
    let file = |name: &str| certs.path(name).display().to_string();
    let server = MariaDb::start(&ServerOptions {
        address,
        server_args: vec![
            format!("--ssl-cert={}", file("server.pem")),
            format!("--ssl-key={}", file("server.key")),
            format!("--ssl-ca={}", file("ca.pem")),
        ],
    });
    server.sql_as_root(&format!(
        "CREATE USER '{TLS_READER}'@'{address}' IDENTIFIED BY '{TLS_READER_PASSWORD}' REQUIRE SSL;
         GRANT SELECT ON `legacy\\_%`.* TO '{TLS_READER}'@'{address}';"
    ));
    server
}

const SEED: &str = "
INSERT INTO conversations (id, phone_number, contact_name, status, ai_enabled, last_message_at, created_at, updated_at) VALUES
  (1, '573001112233', 'María', 'active', 1, '2024-01-15 09:30:05', '2024-01-10 04:00:00', '2024-01-15 09:30:05'),
  (2, '5550102', NULL, 'pending_human', 0, '2024-01-15 08:15:00', '2024-01-12 06:30:00', '2024-01-15 08:15:00');
INSERT INTO messages (id, conversation_id, sender_type, message_text, media_type, created_at) VALUES
  (10, 1, 'user', 'Hola', 'text', '2024-01-15 09:30:00'),
  (11, 1, 'bot', 'respuesta', 'text', '2024-01-15 09:30:05'),
  (20, 2, 'user', 'hello', 'text', '2024-01-15 08:15:00');
";

async fn seeded(server: &MariaDb, prefix: &str) -> LegacyDb {
    let db = server.database(prefix).await;
    let mut conn = db.admin().await;
    conn.query_drop(SEED).await.unwrap();
    conn.disconnect().await.unwrap();
    db
}

async fn assert_synced(table: &str, db: &LegacyDb) {
    if let Err(e) = api_matches(&app_for(table).await, &expected(db).await).await {
        panic!("the API differs from the legacy data: {e}");
    }
}

/// A new table, created.
async fn table(prefix: &str) -> String {
    let table = unique_table_name(prefix);
    admin(&table, &["create-table"]).await.unwrap();
    table
}

/// `convo-admin sync` as a process (the environment variables' names are part of what is
/// tested), with `env` on top of DynamoDB Local's.
fn sync_process(table: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_convo-admin"));
    command
        .arg("sync")
        .env_remove("LEGACY_MYSQL_URL")
        .env_remove("LEGACY_MYSQL_CA_FILE")
        .env_remove("LEGACY_MYSQL_PASSWORD_FILE")
        .env("TABLE_NAME", table)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_ENDPOINT_URL_DYNAMODB", &dynamodb().endpoint);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run convo-admin sync")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_reaches_a_mysql_across_a_network_over_tls_only() {
    let address = this_machine_address();
    let certs = TempDir::new("mysql-tls");
    make_ca(&certs.0, "ca");
    make_ca(&certs.0, "other-ca");
    make_server_certificate(&certs.0, "ca", address);
    let ca = certs.path("ca.pem").display().to_string();
    let other_ca = certs.path("other-ca.pem").display().to_string();
    let server = tls_server(&certs, address);
    let db = seeded(&server, "tls").await;
    let host = server.host();
    let port = server.port;
    // The REQUIRE SSL account, no TLS parameter at all: across a network, TLS by default.
    let url = format!(
        "mysql://{TLS_READER}:{TLS_READER_PASSWORD}@{host}:{port}/{}",
        db.name
    );

    // (a) The CA by flag (LEGACY_MYSQL_CA_FILE's): the data arrives, over TLS (the account
    // admits nothing else), with no TLS parameter in the URL (c).
    let table_a = table("tlsflag").await;
    admin(&table_a, &["sync", "--mysql", &url, "--mysql-ca-file", &ca])
        .await
        .unwrap();
    assert_synced(&table_a, &db).await;

    // (a) The CA as the URL's ssl_ca (taken out before mysql_async, which knows no such
    // parameter).
    let table_b = table("tlsparam").await;
    let with_param = format!("{url}?ssl_ca={}", url_encode(&ca));
    admin(&table_b, &["sync", "--mysql", &with_param]).await.unwrap();
    assert_synced(&table_b, &db).await;

    // (b) Without the CA: the built-in roots do not know it; the error names the host and
    // says to give the CA, and shows no password.
    let table_c = table("tlsnoca").await;
    let e = format!(
        "{:#}",
        admin(&table_c, &["sync", "--mysql", &url]).await.unwrap_err()
    );
    let bare_host = address.to_string();
    assert!(
        e.contains(&format!(
            "the certificate of MySQL at {bare_host} is not signed by a CA this trusts"
        )) && e.contains("LEGACY_MYSQL_CA_FILE"),
        "{e}"
    );
    assert!(!e.contains(TLS_READER_PASSWORD), "{e}");
    // Another CA's file: trusted alone (no built-in roots beside it), and named.
    let e = format!(
        "{:#}",
        admin(&table_c, &["sync", "--mysql", &url, "--mysql-ca-file", &other_ca])
            .await
            .unwrap_err()
    );
    assert!(e.contains(&format!("not signed by a CA in {other_ca}")), "{e}");
    // A CA file that is not one: said before connecting, naming it.
    let e = format!(
        "{:#}",
        admin(
            &table_c,
            &[
                "sync",
                "--mysql",
                &url,
                "--mysql-ca-file",
                &certs.path("server.key").display().to_string()
            ]
        )
        .await
        .unwrap_err()
    );
    assert!(
        e.contains("holds no certificate") && e.contains("server.key"),
        "{e}"
    );

    // (c) Plaintext asked for explicitly: one warning line on stderr, and the REQUIRE SSL
    // account is refused by the server: the URL without parameters above was not plaintext.
    let plain = format!("{url}?require_ssl=false");
    let out = sync_process(&table_c, &[("LEGACY_MYSQL_URL", &plain)]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{said}");
    assert!(
        warnings[0].contains("in clear") && warnings[0].contains(&bare_host),
        "{said}"
    );
    assert!(said.contains("Access denied"), "{said}");
    assert!(!said.contains(TLS_READER_PASSWORD), "{said}");

    // (d) The password from LEGACY_MYSQL_PASSWORD_FILE (with the line break an editor adds),
    // the URL without one, the CA from LEGACY_MYSQL_CA_FILE.
    let password_file = certs.path("mysql-password");
    std::fs::write(&password_file, format!("{TLS_READER_PASSWORD}\n")).unwrap();
    let no_password = format!("mysql://{TLS_READER}@{host}:{port}/{}", db.name);
    let table_d = table("tlsfile").await;
    let out = sync_process(
        &table_d,
        &[
            ("LEGACY_MYSQL_URL", &no_password),
            ("LEGACY_MYSQL_PASSWORD_FILE", &password_file.display().to_string()),
            ("LEGACY_MYSQL_CA_FILE", &ca),
        ],
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains(TLS_READER_PASSWORD), "{said}");
    assert_synced(&table_d, &db).await;
    // A wrong password in the file is refused by the server (the file is what was used).
    std::fs::write(&password_file, "not-the-password\n").unwrap();
    let out = sync_process(
        &table_d,
        &[
            ("LEGACY_MYSQL_URL", &no_password),
            ("LEGACY_MYSQL_PASSWORD_FILE", &password_file.display().to_string()),
            ("LEGACY_MYSQL_CA_FILE", &ca),
        ],
    );
    let said = text(&out);
    assert!(!out.status.success() && said.contains("Access denied"), "{said}");
    assert!(!said.contains("not-the-password"), "{said}");
    drop(server);
}

/// A server without TLS (the harness's usual one, on loopback), asked for TLS: said so, with
/// both ways out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_tls_asked_for_it_is_said_to_offer_none() {
    let db = mariadb().database("notls").await;
    let table = table("notls").await;
    let url = format!("{}?require_ssl=true", db.reader_url);
    let e = format!(
        "{:#}",
        admin(&table, &["sync", "--mysql", &url]).await.unwrap_err()
    );
    assert!(
        e.contains("MySQL at 127.0.0.1 offers no TLS") && e.contains("require_ssl=false"),
        "{e}"
    );
    // On loopback without a TLS parameter: as before, plaintext, and it works.
    admin(&table, &["sync", "--mysql", &db.reader_url]).await.unwrap();
}

/// `value` percent-encoded for a URL's query.
fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
