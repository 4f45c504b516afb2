//! How the sync reaches the legacy MySQL server: the URL read (this crate's own parameters
//! taken out before mysql_async, which refuses parameters it does not know, sees it), TLS
//! decided, the password and the CA read from their files, and a failed connection explained
//! in terms of what to fix.
//!
//! TLS: the sync runs unattended for months and carries a password and customers' messages,
//! so any server not on this host is reached over TLS unless the URL turns it off
//! (`require_ssl=false`, which prints a warning). Loopback addresses, `localhost` and a Unix
//! socket keep mysql_async's default (TLS only when the URL asks): nothing crosses a network.
//! The server's certificate is checked against Mozilla's root set compiled into the binary
//! (webpki-roots; the system's /etc/ssl is not read) or, with a CA file, against exactly the
//! certificates in that file: a private CA or a cloud provider's bundle then stands alone,
//! and no public CA can vouch for the database.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use mysql_async::{Opts, OptsBuilder};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use url::{Host, Url};

/// This crate's URL parameter for the CA file (the same as `LEGACY_MYSQL_CA_FILE`).
pub const CA_PARAMETER: &str = "ssl_ca";
/// mysql_async's own parameter, read here too to decide TLS.
const REQUIRE_SSL: &str = "require_ssl";
/// mysql_async's parameters that turn off a check of the server's certificate.
const VERIFY_CA: &str = "verify_ca";
const VERIFY_IDENTITY: &str = "verify_identity";

/// What the command line gives: the URL and, from their own flags or variables, the files.
/// Its `Debug` leaves the URL out (it may hold the password).
#[derive(Clone, Default)]
pub struct Settings {
    /// `mysql://user[:password]@host:port/database[?parameters]`.
    pub url: String,
    /// PEM file of the CA(s) to trust instead of the built-in roots (`LEGACY_MYSQL_CA_FILE`).
    pub ca_file: Option<PathBuf>,
    /// File whose content is the password (`LEGACY_MYSQL_PASSWORD_FILE`).
    pub password_file: Option<PathBuf>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("url", &"<hidden: may hold the password>")
            .field("ca_file", &self.ca_file)
            .field("password_file", &self.password_file)
            .finish()
    }
}

/// Where the server is, as far as TLS goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A loopback address, `localhost` or a Unix socket: nothing crosses a network.
    ThisHost,
    /// Anything else, names included (a name is not resolved to decide: it may change).
    Network,
}

/// How the connection is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tls,
    /// Plaintext; `warn` when it crosses a network (the URL said `require_ssl=false`).
    Plain {
        warn: bool,
    },
}

/// Which certificates the server's is checked against, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    BuiltIn,
    CaFile(PathBuf),
}

/// The pool's options, ready for mysql_async, and what messages say about them.
pub struct Connection {
    pub opts: Opts,
    /// host:port/database (never the user or the password).
    pub name: String,
    /// The host as the URL names it (what the certificate must hold).
    pub host: String,
    pub transport: Transport,
    pub trust: Trust,
    /// The certificate checks the URL turned off (`verify_ca`, `verify_identity`), for a
    /// warning when TLS crosses a network.
    pub unchecked: Vec<&'static str>,
}

/// Builds the connection from the settings: reads the CA and password files (errors name the
/// file, never its content), decides TLS. Connects to nothing.
pub fn connection(settings: &Settings) -> anyhow::Result<Connection> {
    let mut url = Url::parse(&settings.url)
        .map_err(|e| anyhow!("the MySQL URL is not valid ({e}); expected {}", expected_url()))?;
    let params = take_own_parameters(&mut url)?;
    let ca_file = match (&settings.ca_file, params.ca_file) {
        (Some(_), Some(_)) => bail!(
            "a CA file is given twice, by LEGACY_MYSQL_CA_FILE (or --mysql-ca-file) and by the URL's {CA_PARAMETER}: keep one"
        ),
        (Some(path), None) => Some(path.clone()),
        (None, from_url) => from_url,
    };
    let place = place(&url);
    let transport = transport(place, params.require_ssl, ca_file.is_some())?;
    if ca_file.is_some() && params.unchecked.contains(&VERIFY_CA) {
        bail!(
            "a CA file is given but the MySQL URL says {VERIFY_CA}=false, which ignores it: remove one of them"
        );
    }
    if transport == Transport::Tls && params.require_ssl.is_none() {
        // mysql_async's verify_ca / verify_identity / built_in_roots apply only with it.
        url.query_pairs_mut().append_pair(REQUIRE_SSL, "true");
    }
    let password = match &settings.password_file {
        None => None,
        Some(path) => {
            if !url.password().unwrap_or_default().is_empty() {
                bail!(
                    "the MySQL password is given twice, in the URL and by LEGACY_MYSQL_PASSWORD_FILE ({}): remove it from the URL",
                    path.display()
                );
            }
            Some(read_password(path)?)
        }
    };
    let host = host_of(&url);
    let opts = Opts::from_url(url.as_str())
        .map_err(|e| anyhow!("the MySQL URL is not valid ({e}); expected {}", expected_url()))?;
    let Some(db) = opts.db_name().map(str::to_string) else {
        bail!("the MySQL URL names no database: mysql://user@host:3306/DATABASE");
    };
    let name = format!("{}:{}/{db}", opts.ip_or_hostname(), opts.tcp_port());
    let ssl = match (transport, &ca_file) {
        (Transport::Plain { .. }, _) => None,
        (Transport::Tls, None) => Some(opts.ssl_opts().cloned().unwrap_or_default()),
        (Transport::Tls, Some(path)) => {
            // As DER in memory (mysql_async's `PathOrBuf`, not exported by name): the file
            // is read once, here, not again at each new connection.
            let roots = read_ca_file(path)?
                .into_iter()
                .map(|cert| cert.to_vec().into())
                .collect();
            Some(
                opts.ssl_opts()
                    .cloned()
                    .unwrap_or_default()
                    .with_root_certs(roots)
                    .with_disable_built_in_roots(true),
            )
        }
    };
    let mut builder = OptsBuilder::from_opts(opts).ssl_opts(ssl);
    if place == Place::Network {
        // mysql_async otherwise asks the server for its @@socket and reconnects to that path
        // on THIS host, in plaintext, unverified: whatever listens there would get the
        // password and be read as the legacy database.
        builder = builder.prefer_socket(false);
    }
    if password.is_some() {
        builder = builder.pass(password);
    }
    Ok(Connection {
        opts: Opts::from(builder),
        name,
        host,
        transport,
        trust: ca_file.map_or(Trust::BuiltIn, Trust::CaFile),
        unchecked: if place == Place::Network && transport == Transport::Tls {
            params.unchecked
        } else {
            Vec::new()
        },
    })
}

fn expected_url() -> &'static str {
    "mysql://user:password@host:3306/database"
}

/// This crate's parameters in the URL, taken out of it.
#[derive(Debug, Default, PartialEq, Eq)]
struct OwnParameters {
    ca_file: Option<PathBuf>,
    /// `require_ssl` as written (left in the URL for mysql_async).
    require_ssl: Option<bool>,
    /// `verify_ca=false`, `verify_identity=false` (left in the URL too).
    unchecked: Vec<&'static str>,
}

/// Removes `ssl_ca` from the URL's query (mysql_async refuses unknown parameters) and reads
/// `require_ssl`, which stays. A value that is not `true` or `false` is refused here, as
/// mysql_async would refuse it.
fn take_own_parameters(url: &mut Url) -> anyhow::Result<OwnParameters> {
    let mut own = OwnParameters::default();
    let mut rest = Vec::new();
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            CA_PARAMETER => {
                if own.ca_file.is_some() || value.is_empty() {
                    bail!("the MySQL URL's {CA_PARAMETER} must be given once, with a path");
                }
                own.ca_file = Some(PathBuf::from(value.as_ref()));
            }
            REQUIRE_SSL => {
                own.require_ssl = Some(match value.as_ref() {
                    "true" => true,
                    "false" => false,
                    _ => bail!("the MySQL URL's {REQUIRE_SSL} must be true or false"),
                });
                rest.push((key.into_owned(), value.into_owned()));
            }
            VERIFY_CA | VERIFY_IDENTITY => {
                if value == "false" {
                    own.unchecked.push(if key == VERIFY_CA {
                        VERIFY_CA
                    } else {
                        VERIFY_IDENTITY
                    });
                }
                rest.push((key.into_owned(), value.into_owned()));
            }
            _ => rest.push((key.into_owned(), value.into_owned())),
        }
    }
    url.set_query(None);
    if !rest.is_empty() {
        url.query_pairs_mut().extend_pairs(rest);
    }
    Ok(own)
}

/// The URL's host as written: an IPv6 address without its brackets.
fn host_of(url: &Url) -> String {
    match url.host() {
        Some(Host::Ipv6(ip)) => ip.to_string(),
        Some(host) => host.to_string(),
        None => String::new(),
    }
}

/// Whether the URL's server is on this host: a loopback address (127.0.0.0/8, ::1, an IPv4
/// loopback written as IPv6), the name `localhost`, or a Unix socket (`socket=`).
pub fn place(url: &Url) -> Place {
    if url.query_pairs().any(|(key, _)| key == "socket") {
        return Place::ThisHost;
    }
    let this_host = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).to_canonical().is_loopback(),
        // A `mysql:` URL is not one of the schemes whose IPv4 hosts the url crate parses:
        // 127.0.0.1 arrives as a name.
        Some(Host::Domain(name)) => match name.parse::<IpAddr>() {
            Ok(ip) => ip.to_canonical().is_loopback(),
            Err(_) => name.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
        },
        None => false,
    };
    if this_host {
        Place::ThisHost
    } else {
        Place::Network
    }
}

/// TLS or not: required over a network unless the URL says `require_ssl=false`; on this
/// host only when the URL asks for it or a CA file is given. A CA file with
/// `require_ssl=false` contradicts itself and is refused.
pub fn transport(place: Place, require_ssl: Option<bool>, ca_file: bool) -> anyhow::Result<Transport> {
    Ok(match (require_ssl, place) {
        (Some(false), _) if ca_file => {
            bail!("a CA file is given but the MySQL URL says {REQUIRE_SSL}=false: remove one of them")
        }
        (Some(true), _) => Transport::Tls,
        (Some(false), Place::Network) => Transport::Plain { warn: true },
        (Some(false), Place::ThisHost) => Transport::Plain { warn: false },
        (None, Place::Network) => Transport::Tls,
        (None, Place::ThisHost) if ca_file => Transport::Tls,
        (None, Place::ThisHost) => Transport::Plain { warn: false },
    })
}

/// The line printed (stderr) when the URL turns TLS off for a server across a network.
pub fn plaintext_warning(name: &str) -> String {
    format!(
        "warning: MySQL {name} is reached without TLS ({REQUIRE_SSL}=false): the password and the customers' data cross the network in clear"
    )
}

/// The line printed (stderr) when the URL turns a check of the server's certificate off for
/// a server across a network.
pub fn unchecked_warning(name: &str, unchecked: &[&str]) -> String {
    let what = unchecked
        .iter()
        .map(|k| format!("{k}=false"))
        .collect::<Vec<_>>()
        .join(" and ");
    format!(
        "warning: MySQL {name}'s certificate is not fully checked ({what}): anyone on the path can pose as the server \
         and receive the password; give its CA with LEGACY_MYSQL_CA_FILE instead"
    )
}

/// The password in `path`: its content without one trailing line break. Errors name the
/// file, never what it holds.
pub fn read_password(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read the MySQL password file {} (LEGACY_MYSQL_PASSWORD_FILE)",
            path.display()
        )
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow!("the MySQL password file {} is not UTF-8 text", path.display()))?;
    let password = strip_line_break(&text);
    if password.is_empty() {
        bail!("the MySQL password file {} is empty", path.display());
    }
    Ok(password.to_string())
}

/// Without one trailing `\n` (or `\r\n`): what `echo` or an editor adds.
fn strip_line_break(text: &str) -> &str {
    text.strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text)
}

/// The certificates of a PEM file, each checked to be one a trust store takes. Read before
/// connecting, so a wrong path is said at once, naming the file.
pub fn read_ca_file(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read the MySQL CA file {}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("the MySQL CA file {} is not valid PEM ({e})", path.display()))?;
    if certs.is_empty() {
        bail!(
            "the MySQL CA file {} holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    let mut store = rustls::RootCertStore::empty();
    for cert in &certs {
        store.add(cert.clone()).map_err(|e| {
            anyhow!(
                "the MySQL CA file {} holds a certificate that cannot be used ({e})",
                path.display()
            )
        })?;
    }
    Ok(certs)
}

/// What to fix, for a connection that failed on TLS: an untrusted or mismatched certificate,
/// or a server without TLS. `None` for other errors. Never holds the password (the error
/// types carry none).
pub fn explain(error: &mysql_async::Error, host: &str, trust: &Trust) -> Option<String> {
    use mysql_async::{DriverError, Error, IoError};
    use rustls::CertificateError as Cert;
    match error {
        Error::Driver(DriverError::NoClientSslFlagFromServer) => Some(format!(
            "MySQL at {host} offers no TLS: enable it on the server (ssl_cert and ssl_key in its configuration), \
             or, to send the password and the data in clear, add {REQUIRE_SSL}=false to the URL"
        )),
        Error::Io(IoError::Io(io)) => {
            let tls = io.get_ref()?.downcast_ref::<rustls::Error>()?;
            let rustls::Error::InvalidCertificate(cert) = tls else {
                return None;
            };
            Some(match cert {
                Cert::UnknownIssuer | Cert::BadSignature => match trust {
                    Trust::BuiltIn => format!(
                        "the certificate of MySQL at {host} is not signed by a CA this trusts (the built-in Mozilla roots, \
                         not the system's /etc/ssl): give the server's CA with LEGACY_MYSQL_CA_FILE=/path/ca.pem \
                         (or ?{CA_PARAMETER}=/path/ca.pem in the URL)"
                    ),
                    Trust::CaFile(path) => format!(
                        "the certificate of MySQL at {host} is not signed by a CA in {}: give the CA that signed it",
                        path.display()
                    ),
                },
                Cert::NotValidForName | Cert::NotValidForNameContext { .. } => format!(
                    "the certificate of MySQL at {host} is not valid for the name {host}: connect by a name or address \
                     the certificate holds (its subjectAltName), or have one issued for {host}"
                ),
                Cert::Expired | Cert::ExpiredContext { .. } => {
                    format!("the certificate of MySQL at {host} has expired: renew it on the server")
                }
                Cert::NotValidYet | Cert::NotValidYetContext { .. } => format!(
                    "the certificate of MySQL at {host} is not valid yet: check this host's clock and the certificate's dates"
                ),
                other => format!("the certificate of MySQL at {host} is refused ({other:?})"),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn loopback_localhost_and_sockets_are_this_host_everything_else_the_network() {
        for this_host in [
            "mysql://u@127.0.0.1/db",
            "mysql://u@127.8.9.10:3307/db",
            "mysql://u@[::1]/db",
            "mysql://u@[::ffff:127.0.0.1]/db",
            "mysql://u@localhost/db",
            "mysql://u@LocalHost./db",
            "mysql://u@db.example.com/db?socket=%2Frun%2Fmysqld%2Fmysqld.sock",
        ] {
            assert_eq!(place(&url(this_host)), Place::ThisHost, "{this_host}");
        }
        for network in [
            "mysql://u@10.0.0.5/db",
            "mysql://u@192.0.2.2/db",
            "mysql://u@[fd00::2]/db",
            "mysql://u@db.example.com/db",
            "mysql://u@localhost.example.com/db",
            "mysql://u@128.0.0.1/db",
        ] {
            assert_eq!(place(&url(network)), Place::Network, "{network}");
        }
    }

    #[test]
    fn tls_is_required_across_a_network_unless_turned_off() {
        use Place::*;
        use Transport::*;
        assert_eq!(transport(Network, None, false).unwrap(), Tls);
        assert_eq!(transport(Network, None, true).unwrap(), Tls);
        assert_eq!(transport(Network, Some(true), false).unwrap(), Tls);
        assert_eq!(
            transport(Network, Some(false), false).unwrap(),
            Plain { warn: true }
        );
        assert_eq!(transport(ThisHost, None, false).unwrap(), Plain { warn: false });
        assert_eq!(transport(ThisHost, Some(true), false).unwrap(), Tls);
        assert_eq!(transport(ThisHost, None, true).unwrap(), Tls);
        assert_eq!(
            transport(ThisHost, Some(false), false).unwrap(),
            Plain { warn: false }
        );
        for place in [Network, ThisHost] {
            let refused = transport(place, Some(false), true).unwrap_err().to_string();
            assert!(refused.contains("require_ssl=false"), "{refused}");
        }
    }

    #[test]
    fn ssl_ca_is_taken_out_of_the_url_and_the_rest_stays() {
        let mut u =
            url("mysql://u:p%40ss@h:3306/db?ssl_ca=%2Fetc%2Fca.pem&require_ssl=true&verify_identity=false");
        let own = take_own_parameters(&mut u).unwrap();
        assert_eq!(
            own,
            OwnParameters {
                ca_file: Some(PathBuf::from("/etc/ca.pem")),
                require_ssl: Some(true),
                unchecked: vec![VERIFY_IDENTITY],
            }
        );
        assert_eq!(
            u.as_str(),
            "mysql://u:p%40ss@h:3306/db?require_ssl=true&verify_identity=false"
        );
        let mut only = url("mysql://u@h/db?ssl_ca=/ca.pem");
        take_own_parameters(&mut only).unwrap();
        assert_eq!(only.as_str(), "mysql://u@h/db");
        let mut none = url("mysql://u@h/db");
        assert_eq!(take_own_parameters(&mut none).unwrap(), OwnParameters::default());
        assert_eq!(none.as_str(), "mysql://u@h/db");
        for bad in [
            "mysql://u@h/db?require_ssl=yes",
            "mysql://u@h/db?ssl_ca=",
            "mysql://u@h/db?ssl_ca=a&ssl_ca=b",
        ] {
            assert!(take_own_parameters(&mut url(bad)).is_err(), "{bad}");
        }
    }

    /// The error of a connection refused (no `unwrap_err`: a `Connection` has no `Debug`,
    /// on purpose, since mysql_async's `Opts` would show the password).
    fn refusal(result: anyhow::Result<Connection>) -> String {
        match result {
            Ok(_) => panic!("accepted"),
            Err(e) => format!("{e:#}"),
        }
    }

    fn settings(url: &str) -> Settings {
        Settings {
            url: url.into(),
            ..Settings::default()
        }
    }

    #[test]
    fn the_connection_asks_mysql_async_for_tls_across_a_network_only() {
        let remote = connection(&settings("mysql://u:secret@db.example.com/legacy")).unwrap();
        assert_eq!(remote.transport, Transport::Tls);
        assert!(remote.opts.ssl_opts().is_some());
        assert_eq!(remote.name, "db.example.com:3306/legacy");
        assert!(!remote.name.contains("secret"));
        assert!(!remote.opts.prefer_socket(), "no plaintext hop to a local socket");
        assert!(remote.unchecked.is_empty());
        let lax = connection(&settings(
            "mysql://u@db.example.com/legacy?require_ssl=true&verify_identity=false",
        ))
        .unwrap();
        assert!(lax.opts.ssl_opts().unwrap().skip_domain_validation());
        assert_eq!(lax.unchecked, [VERIFY_IDENTITY]);
        let warning = unchecked_warning(&lax.name, &lax.unchecked);
        assert!(
            warning.contains("verify_identity=false") && warning.contains("LEGACY_MYSQL_CA_FILE"),
            "{warning}"
        );
        let ca = temp_file("lax-ca", b"");
        let e = refusal(connection(&Settings {
            ca_file: Some(ca.to_path_buf()),
            ..settings("mysql://u@db.example.com/legacy?verify_ca=false")
        }));
        assert!(e.contains("verify_ca=false"), "{e}");
        let local = connection(&settings(
            "mysql://u:secret@127.0.0.1:3307/legacy?verify_ca=false",
        ))
        .unwrap();
        assert_eq!(local.transport, Transport::Plain { warn: false });
        assert!(local.unchecked.is_empty());
        assert!(local.opts.ssl_opts().is_none());
        let clear = connection(&settings("mysql://u@10.1.2.3/legacy?require_ssl=false")).unwrap();
        assert_eq!(clear.transport, Transport::Plain { warn: true });
        assert!(clear.opts.ssl_opts().is_none());
        let v6 = connection(&settings("mysql://u@[fd00::2]:3306/legacy")).unwrap();
        assert_eq!(v6.host, "fd00::2");
        assert!(connection(&settings("mysql://u@h:3306")).is_err());
        let e = refusal(connection(&settings("mysql://u:secret@h:99999/db")));
        assert!(!e.contains("secret"), "{e}");
    }

    /// A file of the test's own, removed when dropped.
    struct TempFile(PathBuf);

    impl std::ops::Deref for TempFile {
        type Target = PathBuf;
        fn deref(&self) -> &PathBuf {
            &self.0
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn temp_file(name: &str, content: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("convo-admin-connection-{}-{name}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        TempFile(path)
    }

    #[test]
    fn the_password_file_replaces_a_url_without_one_and_is_refused_beside_one() {
        let file = temp_file("password", b"s3cr\xc3\xa9t:@/\n");
        assert_eq!(read_password(&file).unwrap(), "s3cr\u{e9}t:@/");
        let with_file = |url: &str| {
            connection(&Settings {
                url: url.into(),
                password_file: Some(file.clone()),
                ..Settings::default()
            })
        };
        let c = with_file("mysql://reader@127.0.0.1/legacy").unwrap();
        assert_eq!(c.opts.pass(), Some("s3cr\u{e9}t:@/"));
        assert_eq!(c.opts.user(), Some("reader"));
        let twice = refusal(with_file("mysql://reader:other@127.0.0.1/legacy"));
        assert!(
            twice.contains("given twice") && twice.contains(&file.display().to_string()),
            "{twice}"
        );
        assert!(!twice.contains("other") && !twice.contains("s3cr"), "{twice}");
    }

    #[test]
    fn a_password_file_loses_one_line_break_and_errors_never_show_its_content() {
        assert_eq!(strip_line_break("pw\n"), "pw");
        assert_eq!(strip_line_break("pw\r\n"), "pw");
        assert_eq!(strip_line_break("pw\n\n"), "pw\n");
        assert_eq!(strip_line_break("pw"), "pw");
        assert_eq!(strip_line_break(" pw "), " pw ");
        let empty = temp_file("empty", b"\n");
        let e = read_password(&empty).unwrap_err().to_string();
        assert!(
            e.contains("empty") && e.contains(&empty.display().to_string()),
            "{e}"
        );
        let binary = temp_file("binary", b"hunter2\xff");
        let e = format!("{:#}", read_password(&binary).unwrap_err());
        assert!(e.contains("not UTF-8") && !e.contains("hunter2"), "{e}");
        let missing = Path::new("/nonexistent/convo-admin/password");
        let e = format!("{:#}", read_password(missing).unwrap_err());
        assert!(
            e.contains("/nonexistent/convo-admin/password") && e.contains("LEGACY_MYSQL_PASSWORD_FILE"),
            "{e}"
        );
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused_naming_it() {
        let missing = Path::new("/nonexistent/ca.pem");
        let e = format!("{:#}", read_ca_file(missing).unwrap_err());
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let key_only = temp_file(
            "key.pem",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        );
        let e = read_ca_file(&key_only).unwrap_err().to_string();
        assert!(e.contains("holds no certificate") && e.contains("key.pem"), "{e}");
        let garbage = temp_file(
            "garbage.pem",
            b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        );
        assert!(
            read_ca_file(&garbage)
                .unwrap_err()
                .to_string()
                .contains("garbage.pem")
        );
        let both = connection(&Settings {
            url: "mysql://u@h/db?ssl_ca=/a.pem".into(),
            ca_file: Some(PathBuf::from("/b.pem")),
            ..Settings::default()
        });
        assert!(both.is_err());
    }

    #[test]
    fn tls_failures_say_what_to_fix() {
        use mysql_async::{DriverError, Error, IoError};
        let host = "db.example.com";
        let tls = |cert: rustls::CertificateError| {
            Error::Io(IoError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(cert),
            )))
        };
        let unknown = explain(
            &tls(rustls::CertificateError::UnknownIssuer),
            host,
            &Trust::BuiltIn,
        )
        .unwrap();
        assert!(
            unknown.contains(host) && unknown.contains("LEGACY_MYSQL_CA_FILE"),
            "{unknown}"
        );
        let ca = Trust::CaFile(PathBuf::from("/etc/convo-admin/ca.pem"));
        let unknown = explain(&tls(rustls::CertificateError::UnknownIssuer), host, &ca).unwrap();
        assert!(unknown.contains("/etc/convo-admin/ca.pem"), "{unknown}");
        let name = explain(
            &tls(rustls::CertificateError::NotValidForName),
            host,
            &Trust::BuiltIn,
        )
        .unwrap();
        assert!(name.contains("not valid for the name db.example.com"), "{name}");
        let none = explain(
            &Error::Driver(DriverError::NoClientSslFlagFromServer),
            host,
            &Trust::BuiltIn,
        )
        .unwrap();
        assert!(
            none.contains("offers no TLS") && none.contains("require_ssl=false"),
            "{none}"
        );
        let refused = Error::Io(IoError::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(explain(&refused, host, &Trust::BuiltIn), None);
    }
}
