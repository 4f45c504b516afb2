//! `convo-admin dashboard-user NAME`: the value that signs NAME in to the dashboard behind
//! CloudFront, for the stack's `DashboardUsers` key value store (key: the user name).
//!
//! The distribution's viewer-request function (`SignInFunction` in template.yaml) checks
//! HTTP Basic credentials against it. The value is `v1.SALT.DIGEST`: SALT is 16 random
//! bytes, DIGEST is HMAC-SHA256 keyed with the SALT text over `NAME:PASSWORD` (the bytes
//! the browser sends in the Authorization header, UTF-8), both in base64url without
//! padding. `.` separates the parts because it is neither in base64url nor special to a
//! shell (a `$` would be expanded inside double quotes). Binding the name into the digest
//! means a value copied to another key signs no one in.
//!
//! CloudFront Functions offer SHA-256 and HMAC but no slow password hash (no PBKDF2,
//! scrypt or bcrypt, and about a millisecond of compute), so the digest is fast to
//! compute, and fast to guess from: the strength has to be in the password itself.

use std::io::{BufRead, Write};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The format's tag, the value's first part.
pub const VERSION: &str = "v1";
/// A single fast HMAC guards a leaked value, so only a long password resists guessing.
pub const MIN_PASSWORD_CHARS: usize = 16;
/// Keeps the Authorization header within what the function reads (1024 base64 characters).
pub const MAX_PASSWORD_BYTES: usize = 512;
/// Length of a generated password: 24 of 62 letters and digits, about 143 bits.
pub const GENERATED_PASSWORD_CHARS: usize = 24;
const SALT_BYTES: usize = 16;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The command's arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The user name (the key in the key value store): 1 to 64 of A-Z a-z 0-9 . _ @ -
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Read the password from the first line of standard input (at least 16 characters)
    /// instead of generating one.
    #[arg(long)]
    pub password_stdin: bool,
}

impl Args {
    /// Prints the value alone on `stdout` (so that `value=$(convo-admin dashboard-user …)`
    /// takes it), and a generated password, labelled, on `stderr`. No network, no table.
    pub fn run(
        &self,
        stdin: &mut dyn BufRead,
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
    ) -> anyhow::Result<()> {
        check_name(&self.name)?;
        let (password, generated) = if self.password_stdin {
            (read_password(stdin)?, false)
        } else {
            (generate_password()?, true)
        };
        check_password(&password)?;
        let value = value(&self.name, &password, &random_salt()?);
        writeln!(stdout, "{value}").context("writing the value")?;
        if generated {
            writeln!(
                stderr,
                "password for {} (shown this once, stored nowhere; hand it over now): {password}",
                self.name
            )
            .context("writing the password")?;
        }
        Ok(())
    }
}

/// 1 to 64 characters of `A-Z a-z 0-9 . _ @ -`: no `:` (it ends the name in the
/// Authorization header) and nothing a key value store key or a log line would mangle.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-')))
    {
        bail!(
            "user name {name:?} has {c:?}: use only letters A-Z a-z, digits and . _ @ - (e.g. ana or ana.perez@example.com)"
        );
    }
    if name.is_empty() || name.len() > 64 {
        bail!("user name {name:?} has {} characters: give 1 to 64", name.len());
    }
    Ok(())
}

/// At least [`MIN_PASSWORD_CHARS`] characters, at most [`MAX_PASSWORD_BYTES`] bytes, no
/// control characters.
pub fn check_password(password: &str) -> anyhow::Result<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        bail!(
            "the password has {chars} characters: give at least {MIN_PASSWORD_CHARS} (the stored value is a \
             fast hash, so only a long password resists guessing), or leave out --password-stdin \
             to have one generated"
        );
    }
    if password.len() > MAX_PASSWORD_BYTES {
        bail!(
            "the password has {} bytes: give at most {MAX_PASSWORD_BYTES}",
            password.len()
        );
    }
    if password.chars().any(char::is_control) {
        bail!("the password has a control character (a tab?): use printable characters only");
    }
    Ok(())
}

/// The first line of `stdin`, without its line ending.
fn read_password(stdin: &mut dyn BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    let read = stdin
        .read_line(&mut line)
        .context("reading the password from standard input (it must be UTF-8)")?;
    if read == 0 {
        bail!("--password-stdin: standard input is empty; write the password on its first line");
    }
    if let Some(rest) = line.strip_suffix('\n') {
        line.truncate(rest.strip_suffix('\r').unwrap_or(rest).len());
    }
    Ok(line)
}

/// [`GENERATED_PASSWORD_CHARS`] letters and digits from the operating system's generator.
pub fn generate_password() -> anyhow::Result<String> {
    let mut password = String::with_capacity(GENERATED_PASSWORD_CHARS);
    let mut bytes = [0u8; 64];
    while password.len() < GENERATED_PASSWORD_CHARS {
        getrandom::fill(&mut bytes).context("reading the system's random number generator")?;
        // Bytes below 248 (4 × 62) map evenly onto the alphabet; the rest are dropped.
        for &b in bytes.iter().filter(|&&b| usize::from(b) < 4 * ALPHABET.len()) {
            if password.len() == GENERATED_PASSWORD_CHARS {
                break;
            }
            if let Some(&c) = ALPHABET.get(usize::from(b) % ALPHABET.len()) {
                password.push(char::from(c));
            }
        }
    }
    Ok(password)
}

fn random_salt() -> anyhow::Result<[u8; SALT_BYTES]> {
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt).context("reading the system's random number generator")?;
    Ok(salt)
}

/// The key value store's value for `name` with `password`: `v1.SALT.DIGEST`.
pub fn value(name: &str, password: &str, salt: &[u8]) -> String {
    let salt = URL_SAFE_NO_PAD.encode(salt);
    let digest = URL_SAFE_NO_PAD.encode(digest(&salt, name, password));
    format!("{VERSION}.{salt}.{digest}")
}

/// HMAC-SHA256 keyed with the salt's text over `name:password`.
fn mac(salt: &str, name: &str, password: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(salt.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(name.as_bytes());
    mac.update(b":");
    mac.update(password.as_bytes());
    mac
}

fn digest(salt: &str, name: &str, password: &str) -> [u8; 32] {
    mac(salt, name, password).finalize().into_bytes().into()
}

/// Whether `value` signs `name` in with `password` (what the CloudFront function decides;
/// for tests and a check by hand).
pub fn verifies(value: &str, name: &str, password: &str) -> bool {
    let mut parts = value.trim().split('.');
    let (Some(VERSION), Some(salt), Some(stored), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    URL_SAFE_NO_PAD
        .decode(stored)
        .is_ok_and(|stored| mac(salt, name, password).verify_slice(&stored).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], stdin: &str) -> (anyhow::Result<()>, String, String) {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let cli = Cli::try_parse_from(std::iter::once("dashboard-user").chain(args.iter().copied())).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let result = cli.args.run(&mut stdin.as_bytes(), &mut out, &mut err);
        (
            result,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn known_answer() {
        // HMAC-SHA256(key "AAAAAAAAAAAAAAAAAAAAAA", "ana:correct horse battery staple"),
        // computed independently with: printf %s 'ana:correct horse battery staple' |
        // openssl dgst -sha256 -hmac AAAAAAAAAAAAAAAAAAAAAA -binary | basenc --base64url
        // (less its = padding)
        let v = value("ana", "correct horse battery staple", &[0; 16]);
        assert_eq!(
            v,
            "v1.AAAAAAAAAAAAAAAAAAAAAA.4iCYcD_kwYjpV9Tj8fH2VRKqy7Hsq0Xegs0ISr2CepA"
        );
        assert!(verifies(&v, "ana", "correct horse battery staple"));
    }

    #[test]
    fn a_value_signs_in_its_user_with_its_password_only() {
        let v = value("ana", "correct horse battery staple", &random_salt().unwrap());
        assert!(verifies(&v, "ana", "correct horse battery staple"));
        assert!(verifies(&format!("{v}\n"), "ana", "correct horse battery staple"));
        assert!(!verifies(&v, "ana", "correct horse battery stapler"));
        assert!(!verifies(&v, "bo", "correct horse battery staple"));
        assert!(!verifies(
            &v.replacen("v1.", "v2.", 1),
            "ana",
            "correct horse battery staple"
        ));
        assert!(!verifies("", "ana", "correct horse battery staple"));
    }

    #[test]
    fn the_format_is_three_base64url_parts() {
        let v = value("ana", "correct horse battery staple", &random_salt().unwrap());
        let parts: Vec<&str> = v.split('.').collect();
        assert_eq!(parts.len(), 3, "{v}");
        assert_eq!(parts[0], "v1");
        assert_eq!(parts[1].len(), 22, "{v}");
        assert_eq!(parts[2].len(), 43, "{v}");
        for part in &parts[1..] {
            assert!(
                part.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{v}"
            );
        }
    }

    #[test]
    fn salts_differ_so_values_differ() {
        let a = value("ana", "correct horse battery staple", &random_salt().unwrap());
        let b = value("ana", "correct horse battery staple", &random_salt().unwrap());
        assert_ne!(a, b);
    }

    #[test]
    fn password_from_stdin_value_alone_on_stdout() {
        let (result, out, err) = run(
            &["ana", "--password-stdin"],
            "correct horse battery staple\r\nsecond line ignored\n",
        );
        result.unwrap();
        assert_eq!(out.lines().count(), 1, "{out:?}");
        assert!(out.ends_with('\n'));
        assert!(verifies(&out, "ana", "correct horse battery staple"), "{out}");
        assert_eq!(err, "");
        // Without a final newline too.
        let (result, out, _) = run(&["ana", "--password-stdin"], "correct horse battery staple");
        result.unwrap();
        assert!(verifies(&out, "ana", "correct horse battery staple"));
    }

    #[test]
    fn a_utf8_password_is_taken_as_its_bytes() {
        let (result, out, _) = run(&["ana", "--password-stdin"], "contraseña del ñandú 2024\n");
        result.unwrap();
        assert!(verifies(&out, "ana", "contraseña del ñandú 2024"));
    }

    #[test]
    fn generated_password_is_shown_once_labelled_and_verifies() {
        let (result, out, err) = run(&["bo"], "");
        result.unwrap();
        let password = err
            .trim_end()
            .rsplit_once(": ")
            .map(|(label, p)| {
                assert!(label.starts_with("password for bo"), "{err}");
                p
            })
            .unwrap();
        assert_eq!(password.len(), GENERATED_PASSWORD_CHARS, "{err}");
        assert!(password.bytes().all(|b| b.is_ascii_alphanumeric()), "{err}");
        assert!(verifies(&out, "bo", password));
        assert!(!out.contains(password));
    }

    #[test]
    fn generated_passwords_differ_and_use_the_whole_alphabet() {
        let mut seen = std::collections::BTreeSet::new();
        let mut passwords = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let p = generate_password().unwrap();
            check_password(&p).unwrap();
            seen.extend(p.bytes());
            passwords.insert(p);
        }
        assert_eq!(passwords.len(), 200);
        assert_eq!(seen.len(), ALPHABET.len());
    }

    #[test]
    fn short_or_missing_passwords_are_refused() {
        let (result, out, _) = run(&["ana", "--password-stdin"], "fifteen chars!!\n");
        let e = result.unwrap_err().to_string();
        assert!(e.contains("15 characters") && e.contains("at least 16"), "{e}");
        assert_eq!(out, "");
        // Sixteen characters, counted as characters, not bytes.
        let (result, _, _) = run(&["ana", "--password-stdin"], "ñññññññññññññññ\n");
        assert!(result.is_err());
        let (result, _, _) = run(&["ana", "--password-stdin"], "ññññññññññññññññ\n");
        result.unwrap();
        let (result, _, _) = run(&["ana", "--password-stdin"], "");
        let e = result.unwrap_err().to_string();
        assert!(e.contains("standard input is empty"), "{e}");
        let (result, _, _) = run(&["ana", "--password-stdin"], "\n");
        assert!(result.unwrap_err().to_string().contains("0 characters"));
    }

    #[test]
    fn long_or_control_passwords_are_refused() {
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        let (result, _, _) = run(&["ana", "--password-stdin"], &long);
        assert!(result.unwrap_err().to_string().contains("at most 512"));
        let (result, _, _) = run(&["ana", "--password-stdin"], &"x".repeat(MAX_PASSWORD_BYTES));
        result.unwrap();
        let (result, _, _) = run(&["ana", "--password-stdin"], "sixteen\tcharacters\n");
        assert!(result.unwrap_err().to_string().contains("control character"));
    }

    #[test]
    fn names_are_checked() {
        for good in ["a", "ana", "ana.perez@example.com", "A_b-9", &"n".repeat(64)] {
            check_name(good).unwrap();
        }
        for (bad, says) in [
            ("", "give 1 to 64"),
            (&"n".repeat(65) as &str, "give 1 to 64"),
            ("ana:x", "':'"),
            ("ana perez", "' '"),
            ("añа", "'ñ'"),
            ("ana/x", "'/'"),
        ] {
            let e = check_name(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        let (result, out, err) = run(&["ana:x"], "");
        assert!(result.is_err());
        assert_eq!(
            (out.as_str(), err.as_str()),
            ("", ""),
            "no password made for a bad name"
        );
    }
}
