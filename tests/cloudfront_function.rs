//! The dashboard's sign-in (issue 23): `SignInFunction`, the CloudFront viewer-request
//! function of template.yaml, run offline under Node as CloudFormation would deploy it
//! (its Fn::Sub text with the parameters substituted), against a stand-in of the
//! `cloudfront` module whose key value store holds values made by the real
//! `convo-admin dashboard-user` command: what the command stores, the function accepts.
//!
//! Node runs JavaScript that the cloudfront-js-2.0 runtime may not, so the code is also
//! held to what that runtime documents (`written_for_cloudfront_js_2_0`). Needs `node`
//! (Node.js 18 or later) on the PATH.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use convo_admin::cli::{Cli, Command as AdminCommand};
use integration_tests::workspace_root;
use serde_json::{Value, json};
use yaml_rust2::{Yaml, YamlLoader};

/// The id CloudFormation would substitute for `${DashboardUsers.Id}`.
const KVS_ID: &str = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111";
const REALM: &str = "Basic realm=\"Dashboard\", charset=\"UTF-8\"";

fn template() -> Yaml {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn sign_in_function(t: &Yaml) -> Yaml {
    let f = t["Resources"]["SignInFunction"].clone();
    assert!(!f.is_badvalue(), "template.yaml has no SignInFunction");
    f
}

/// `SignInFunction`'s FunctionCode as written: the text of its Fn::Sub.
fn code_as_written() -> String {
    sign_in_function(&template())["Properties"]["FunctionCode"]["Fn::Sub"]
        .as_str()
        .expect("SignInFunction's FunctionCode is an Fn::Sub of one string")
        .to_string()
}

/// The code as CloudFormation deploys it for a `LegacyBasePath` of `base`.
fn code_as_deployed(base: &str) -> String {
    substitute(&code_as_written(), base)
}

/// Fn::Sub: `${LegacyBasePath}`, `${DashboardUsers.Id}`, and `${!…}` for a literal `${…}`.
fn substitute(written: &str, base: &str) -> String {
    let mut out = String::new();
    let mut rest = written;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        if let Some(literal) = after.strip_prefix('!') {
            out.push_str("${");
            rest = literal;
            continue;
        }
        let end = after.find('}').expect("an Fn::Sub variable is closed");
        match &after[..end] {
            "LegacyBasePath" => out.push_str(base),
            "DashboardUsers.Id" => out.push_str(KVS_ID),
            other => panic!(
                "SignInFunction's code refers to ${{{other}}}: only LegacyBasePath and DashboardUsers.Id are substituted (write ${{!…}} for a literal)"
            ),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `convo-admin dashboard-user ARGS…` in process, as the binary parses and runs it:
/// (stdout, stderr).
fn dashboard_user(args: &[&str], stdin: &str) -> (String, String) {
    let argv = ["convo-admin", "dashboard-user"]
        .into_iter()
        .chain(args.iter().copied());
    let AdminCommand::DashboardUser(command) = Cli::try_parse_from(argv).unwrap().command else {
        panic!("dashboard-user parsed as another command");
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    command.run(&mut stdin.as_bytes(), &mut out, &mut err).unwrap();
    (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
}

/// The key value store's value for a user and password, as `value=$(convo-admin
/// dashboard-user NAME --password-stdin <<<"$pw")` takes it.
fn stored_value(name: &str, password: &str) -> String {
    let (out, err) = dashboard_user(&[name, "--password-stdin"], &format!("{password}\n"));
    assert_eq!(err, "");
    out.trim_end_matches('\n').to_string()
}

/// A user whose password the command generated: (value, password as shown on stderr).
fn generated_user(name: &str) -> (String, String) {
    let (out, err) = dashboard_user(&[name], "");
    let (label, password) = err
        .trim_end()
        .rsplit_once(": ")
        .expect("a labelled password on stderr");
    assert!(label.starts_with(&format!("password for {name}")), "{err}");
    (out.trim_end_matches('\n').to_string(), password.to_string())
}

struct Users {
    kvs: Value,
    generated_password: String,
}

const ANA: &str = "correct horse battery staple";
const UTF8_NAME: &str = "ana.perez@example.com";
const UTF8_PASSWORD: &str = "contraseña del ñandú, 2024";
const COLON_PASSWORD: &str = "correct:horse:battery:staple";
static LONGEST_NAME: LazyLock<String> = LazyLock::new(|| "n".repeat(64));
/// 512 bytes (`MAX_PASSWORD_BYTES`), 256 characters.
static LONGEST_PASSWORD: LazyLock<String> = LazyLock::new(|| "ñ".repeat(256));

fn users() -> Users {
    let ana = stored_value("ana", ANA);
    let (bo, generated_password) = generated_user("bo");
    Users {
        kvs: json!({
            "ana": ana,
            "bo": bo,
            UTF8_NAME: stored_value(UTF8_NAME, UTF8_PASSWORD),
            "colon": stored_value("colon", COLON_PASSWORD),
            // The longest name and password the command takes fit the header the function reads.
            &*LONGEST_NAME: stored_value(&LONGEST_NAME, &LONGEST_PASSWORD),
            // A value put with its line ending still signs in.
            "newline": format!("{}\n", stored_value("newline", ANA)),
            // Ana's value under another name signs no one in: the name is in the digest.
            "mallory": ana,
            "eve": "v1.only-two-parts",
            // Right digests in the wrong format.
            "old": stored_value("old", ANA).replacen("v1.", "v0.", 1),
            "extra": format!("{}.x", stored_value("extra", ANA)),
        }),
        generated_password,
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn basic(name: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{name}:{password}").as_bytes()))
}

/// A viewer-request event as CloudFront gives it to the function.
fn event(method: &str, uri: &str, headers: &[(&str, &str)], querystring: Value) -> Value {
    let mut h = serde_json::Map::new();
    h.insert("host".into(), json!({"value": "panel.example.com"}));
    h.insert("user-agent".into(), json!({"value": "Mozilla/5.0"}));
    for (name, value) in headers {
        h.insert((*name).into(), json!({ "value": value }));
    }
    json!({
        "version": "1.0",
        "context": {
            "distributionDomainName": "d111111abcdef8.cloudfront.net",
            "distributionId": "EDFDVBD6EXAMPLE",
            "eventType": "viewer-request",
            "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="
        },
        "viewer": {"ip": "198.51.100.7"},
        "request": {
            "method": method,
            "uri": uri,
            "querystring": querystring,
            "headers": h,
            "cookies": {}
        }
    })
}

fn get(uri: &str, headers: &[(&str, &str)]) -> Value {
    event("GET", uri, headers, json!({}))
}

struct Case {
    name: String,
    event: Value,
    kvs_fails: bool,
}

fn case(name: &str, event: Value) -> Case {
    Case {
        name: name.into(),
        event,
        kvs_fails: false,
    }
}

struct Outcome {
    /// The ids the function passed to `cf.kvs`.
    handles: Vec<Value>,
    /// Per case: what the handler returned, and the keys it read.
    results: BTreeMap<String, (Value, Vec<String>)>,
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// A directory for one run, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn node() -> &'static str {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {
            let version = String::from_utf8_lossy(&out.stdout);
            let major: u32 = version
                .trim()
                .trim_start_matches('v')
                .split('.')
                .next()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            assert!(
                major >= 18,
                "node {version} is too old for the CloudFront function's offline tests: install Node.js 18 or later"
            );
            "node"
        }
        Ok(out) => panic!(
            "`node --version` failed ({}): the CloudFront function's offline tests need Node.js; install nodejs (e.g. apt-get install nodejs)",
            out.status
        ),
        Err(e) => panic!(
            "cannot run node ({e}): the CloudFront function's offline tests need Node.js 18 or later; install nodejs (e.g. apt-get install nodejs)"
        ),
    }
}

/// Runs `code` (the deployed function) under Node on `cases`, with `kvs` in its store.
fn run(code: &str, kvs: &Value, cases: Vec<Case>) -> Outcome {
    let node = node();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let dir = std::env::temp_dir().join(format!(
        "cloudfront-function-{}-{nanos}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let scratch = Scratch(dir.clone());
    let stand_in = dir.join("node_modules/cloudfront");
    std::fs::create_dir_all(&stand_in).unwrap();
    let sources = workspace_root().join("tests/cloudfront");
    std::fs::copy(sources.join("cloudfront.mjs"), stand_in.join("index.mjs")).unwrap();
    std::fs::write(
        stand_in.join("package.json"),
        r#"{"name": "cloudfront", "type": "module", "exports": "./index.mjs"}"#,
    )
    .unwrap();
    let function = dir.join("sign-in.mjs");
    std::fs::write(&function, format!("{code}\nexport {{ handler }};\n")).unwrap();
    let names: Vec<String> = cases.iter().map(|c| c.name.clone()).collect();
    let input = json!({
        "kvs": kvs,
        "cases": cases
            .into_iter()
            .map(|c| json!({"name": c.name, "event": c.event, "kvs_fails": c.kvs_fails}))
            .collect::<Vec<_>>(),
    });
    let cases_path = dir.join("cases.json");
    std::fs::write(&cases_path, serde_json::to_vec(&input).unwrap()).unwrap();
    let out = Command::new(node)
        .arg(sources.join("run.mjs"))
        .arg(&function)
        .arg(&cases_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "node failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "runner output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    drop(scratch);
    let mut results = BTreeMap::new();
    for r in printed["results"].as_array().unwrap() {
        let gets = r["kvs_gets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        results.insert(
            r["name"].as_str().unwrap().to_string(),
            (r["result"].clone(), gets),
        );
    }
    assert_eq!(results.len(), names.len(), "case names are unique");
    Outcome {
        handles: printed["handles"].as_array().unwrap().clone(),
        results,
    }
}

impl Outcome {
    fn result(&self, name: &str) -> &Value {
        &self
            .results
            .get(name)
            .unwrap_or_else(|| panic!("no case {name}"))
            .0
    }

    fn reads(&self, name: &str) -> &[String] {
        &self.results[name].1
    }

    /// The 401 that asks the browser for credentials.
    fn assert_denied(&self, name: &str) {
        let r = self.result(name);
        assert_eq!(
            r,
            &json!({
                "statusCode": 401,
                "statusDescription": "Unauthorized",
                "headers": {
                    "www-authenticate": {"value": REALM},
                    "cache-control": {"value": "no-store"}
                }
            }),
            "{name}"
        );
    }

    /// The request sent on to an origin, signed in as `user`, on `uri`.
    fn assert_signed_in(&self, name: &str, user: &str, uri: &str) -> &Value {
        let r = self.result(name);
        assert!(r.get("statusCode").is_none(), "{name}: answered {r}");
        assert_eq!(r["uri"], uri, "{name}: {r}");
        let headers = r["headers"].as_object().unwrap();
        assert!(
            !headers.contains_key("authorization"),
            "{name}: the credentials went on to the origin: {r}"
        );
        assert_eq!(headers["x-dashboard-user"], json!({"value": user}), "{name}: {r}");
        assert_eq!(headers["host"], json!({"value": "panel.example.com"}), "{name}");
        assert_eq!(headers["user-agent"], json!({"value": "Mozilla/5.0"}), "{name}");
        r
    }
}

/// The cases every base path shares, URIs under `base`.
fn common_cases(base: &str, users: &Users) -> Vec<Case> {
    let ana = basic("ana", ANA);
    let p = |path: &str| format!("{base}{path}");
    let mut kvs_down = case("store unavailable", get(&p("/"), &[("authorization", &ana)]));
    kvs_down.kvs_fails = true;
    vec![
        case("no credentials", get(&p("/"), &[])),
        case("no credentials, API", get(&p("/api/conversations"), &[])),
        case(
            "wrong password",
            get(
                &p("/"),
                &[("authorization", &basic("ana", "correct horse battery stapler"))],
            ),
        ),
        case(
            "empty password",
            get(&p("/"), &[("authorization", &basic("ana", ""))]),
        ),
        case(
            "unknown user",
            get(&p("/"), &[("authorization", &basic("zoe", ANA))]),
        ),
        case(
            "copied value",
            get(&p("/"), &[("authorization", &basic("mallory", ANA))]),
        ),
        case(
            "malformed stored value",
            get(&p("/"), &[("authorization", &basic("eve", ANA))]),
        ),
        case(
            "other version",
            get(&p("/"), &[("authorization", &basic("old", ANA))]),
        ),
        case(
            "a fourth part",
            get(&p("/"), &[("authorization", &basic("extra", ANA))]),
        ),
        case(
            "not base64",
            get(&p("/"), &[("authorization", "Basic !!!not base64!!!")]),
        ),
        case(
            "no colon",
            get(
                &p("/"),
                &[(
                    "authorization",
                    &format!("Basic {}", base64(b"anacorrect horse battery staple")),
                )],
            ),
        ),
        case("empty user", get(&p("/"), &[("authorization", &basic("", ANA))])),
        case(
            "name with a space",
            get(&p("/"), &[("authorization", &basic("ana perez", ANA))]),
        ),
        case("scheme only", get(&p("/"), &[("authorization", "Basic")])),
        case(
            "bearer",
            get(&p("/"), &[("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x")]),
        ),
        case(
            "digest",
            get(&p("/"), &[("authorization", &format!("Digest {}", &ana[6..]))]),
        ),
        case(
            "too long",
            get(&p("/"), &[("authorization", &basic("ana", &"x".repeat(1000)))]),
        ),
        kvs_down,
        case("page", get(&p("/"), &[("authorization", &ana)])),
        case(
            "lower-case scheme",
            get(&p("/"), &[("authorization", &format!("basic {}", &ana[6..]))]),
        ),
        case(
            "asset",
            get(&p("/assets/js/conversations.js"), &[("authorization", &ana)]),
        ),
        case(
            "audio",
            get(&p("/uploads/audio/voice-1.ogg"), &[("authorization", &ana)]),
        ),
        case(
            "php write",
            event(
                "POST",
                &p("/api/send-message.php"),
                &[
                    ("authorization", &ana),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                json!({}),
            ),
        ),
        case(
            "api list",
            event(
                "GET",
                &p("/api/conversations"),
                &[("authorization", &ana)],
                json!({"status": {"value": "open"}, "limit": {"value": "50", "multiValue": [{"value": "50"}, {"value": "20"}]}}),
            ),
        ),
        case(
            "api messages",
            get(&p("/api/conversations/c-42/messages"), &[("authorization", &ana)]),
        ),
        case(
            "api legacy",
            get(
                &p("/api/get-conversation-messages.php"),
                &[("authorization", &ana)],
            ),
        ),
        case(
            "api poll",
            get(&p("/api/check-updates.php"), &[("authorization", &ana)]),
        ),
        case(
            "generated password",
            get(
                &p("/"),
                &[("authorization", &basic("bo", &users.generated_password))],
            ),
        ),
        case(
            "utf-8 password",
            get(&p("/"), &[("authorization", &basic(UTF8_NAME, UTF8_PASSWORD))]),
        ),
        case(
            "colons in the password",
            get(&p("/"), &[("authorization", &basic("colon", COLON_PASSWORD))]),
        ),
        case(
            "longest name and password",
            get(
                &p("/"),
                &[("authorization", &basic(&LONGEST_NAME, &LONGEST_PASSWORD))],
            ),
        ),
        case(
            "value with a line ending",
            get(&p("/"), &[("authorization", &basic("newline", ANA))]),
        ),
        case(
            "forged user, signed in",
            get(
                &p("/api/conversations"),
                &[("authorization", &ana), ("x-dashboard-user", "admin")],
            ),
        ),
        case(
            "forged user, no credentials",
            get(&p("/"), &[("x-dashboard-user", "ana")]),
        ),
        case(
            "webhook GET",
            event(
                "GET",
                &p("/webhook"),
                &[("x-dashboard-user", "admin")],
                json!({"hub.mode": {"value": "subscribe"}, "hub.challenge": {"value": "1158201444"}}),
            ),
        ),
        case(
            "webhook POST",
            event(
                "POST",
                &p("/webhook"),
                &[
                    ("content-type", "application/json"),
                    ("x-hub-signature-256", "sha256=00ff"),
                ],
                json!({}),
            ),
        ),
        case(
            "webhook POST with a browser's credentials",
            event(
                "POST",
                &p("/webhook"),
                &[("authorization", &ana), ("content-type", "application/json")],
                json!({}),
            ),
        ),
        case("webhook PUT", event("PUT", &p("/webhook"), &[], json!({}))),
        case("webhook prefix", get(&p("/webhookx"), &[])),
        case("webhook slash", get(&p("/webhook/"), &[])),
        case("webhook dot-dot", get(&p("/webhook/../api/conversations"), &[])),
        case(
            "webhook dot-dot signed in",
            get(&p("/webhook/../api/conversations"), &[("authorization", &ana)]),
        ),
    ]
}

/// What every base path shares: who gets in, what reaches the origin.
fn assert_common(o: &Outcome, base: &str) {
    let p = |path: &str| format!("{base}{path}");
    assert_eq!(o.handles, vec![json!(KVS_ID)], "one handle on the stack's store");
    for name in [
        "no credentials",
        "no credentials, API",
        "wrong password",
        "empty password",
        "unknown user",
        "copied value",
        "malformed stored value",
        "other version",
        "a fourth part",
        "not base64",
        "no colon",
        "empty user",
        "name with a space",
        "scheme only",
        "bearer",
        "digest",
        "too long",
        "store unavailable",
        "forged user, no credentials",
        "webhook PUT",
        "webhook prefix",
        "webhook slash",
        "webhook dot-dot",
    ] {
        o.assert_denied(name);
    }
    // Unknown or not, a user costs a store read; a malformed header costs none.
    assert_eq!(o.reads("unknown user"), ["zoe"]);
    assert_eq!(o.reads("wrong password"), ["ana"]);
    for name in [
        "no credentials",
        "not base64",
        "no colon",
        "empty user",
        "name with a space",
        "bearer",
        "too long",
    ] {
        assert_eq!(o.reads(name), [] as [String; 0], "{name}");
    }

    // The page, its assets and audio, PHP's write endpoints: same URI, to PHP.
    o.assert_signed_in("page", "ana", &p("/"));
    o.assert_signed_in("lower-case scheme", "ana", &p("/"));
    o.assert_signed_in("asset", "ana", &p("/assets/js/conversations.js"));
    o.assert_signed_in("audio", "ana", &p("/uploads/audio/voice-1.ogg"));
    let php = o.assert_signed_in("php write", "ana", &p("/api/send-message.php"));
    assert_eq!(php["method"], "POST");
    assert_eq!(
        php["headers"]["content-type"],
        json!({"value": "application/x-www-form-urlencoded"})
    );
    o.assert_signed_in("generated password", "bo", &p("/"));
    o.assert_signed_in("utf-8 password", UTF8_NAME, &p("/"));
    o.assert_signed_in("colons in the password", "colon", &p("/"));
    o.assert_signed_in("longest name and password", &LONGEST_NAME, &p("/"));
    o.assert_signed_in("value with a line ending", "newline", &p("/"));
    // Not the webhook: signed in, it is a PHP path like any other.
    o.assert_signed_in(
        "webhook dot-dot signed in",
        "ana",
        &p("/webhook/../api/conversations"),
    );

    // The API's paths, to the API, which answers at /api/...: the query string untouched.
    let list = o.assert_signed_in("api list", "ana", "/api/conversations");
    assert_eq!(
        list["querystring"],
        json!({"status": {"value": "open"}, "limit": {"value": "50", "multiValue": [{"value": "50"}, {"value": "20"}]}})
    );
    assert_eq!(list["method"], "GET");
    assert_eq!(list["cookies"], json!({}));
    o.assert_signed_in("api messages", "ana", "/api/conversations/c-42/messages");
    o.assert_signed_in("api legacy", "ana", "/api/get-conversation-messages.php");
    o.assert_signed_in("api poll", "ana", "/api/check-updates.php");

    // Only the function says who is signed in.
    o.assert_signed_in("forged user, signed in", "ana", "/api/conversations");

    // The webhook: open, as sent, less a viewer's x-dashboard-user.
    let mut expected = event(
        "GET",
        &p("/webhook"),
        &[],
        json!({"hub.mode": {"value": "subscribe"}, "hub.challenge": {"value": "1158201444"}}),
    );
    assert_eq!(o.result("webhook GET"), &expected["request"].take());
    let mut expected = event(
        "POST",
        &p("/webhook"),
        &[
            ("content-type", "application/json"),
            ("x-hub-signature-256", "sha256=00ff"),
        ],
        json!({}),
    );
    assert_eq!(o.result("webhook POST"), &expected["request"].take());
    // Credentials a browser sends along to the webhook go no further either.
    let mut expected = event(
        "POST",
        &p("/webhook"),
        &[("content-type", "application/json")],
        json!({}),
    );
    assert_eq!(
        o.result("webhook POST with a browser's credentials"),
        &expected["request"].take()
    );
    assert_eq!(o.reads("webhook POST"), [] as [String; 0]);
}

#[test]
fn signs_in_under_a_base_path() {
    let users = users();
    let mut cases = common_cases("/panel", &users);
    let ana = basic("ana", ANA);
    cases.extend([
        case("outside the base path", get("/other/", &[])),
        case("webhook without the base path", get("/webhook", &[])),
        case(
            "api without the base path",
            get("/api/conversations", &[("authorization", &ana)]),
        ),
        case(
            "same length, other base",
            get("/panex/api/conversations", &[("authorization", &ana)]),
        ),
        case(
            "longer base",
            get("/panelx/api/conversations", &[("authorization", &ana)]),
        ),
    ]);
    let o = run(&code_as_deployed("/panel"), &users.kvs, cases);
    assert_common(&o, "/panel");
    o.assert_denied("outside the base path");
    o.assert_denied("webhook without the base path");
    // Only under the base path is a path the API's: the others keep their URI (to PHP).
    o.assert_signed_in("api without the base path", "ana", "/api/conversations");
    o.assert_signed_in("same length, other base", "ana", "/panex/api/conversations");
    o.assert_signed_in("longer base", "ana", "/panelx/api/conversations");
}

#[test]
fn signs_in_without_a_base_path() {
    let users = users();
    let o = run(&code_as_deployed(""), &users.kvs, common_cases("", &users));
    assert_common(&o, "");
}

/// CloudFront's path pattern match: `*` any characters (none, or `/` included), `?` one.
fn pattern_matches(pattern: &[u8], path: &[u8]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            pattern_matches(&pattern[1..], path) || (!path.is_empty() && pattern_matches(pattern, &path[1..]))
        }
        (Some(b'?'), Some(_)) => pattern_matches(&pattern[1..], &path[1..]),
        (Some(a), Some(b)) if a == b => pattern_matches(&pattern[1..], &path[1..]),
        _ => false,
    }
}

/// The function strips the base path from exactly the paths the distribution's behaviours
/// send to the API, as template.yaml writes their patterns.
#[test]
fn api_paths_agree_with_the_distribution() {
    let t = template();
    let behaviours =
        t["Resources"]["DashboardDistribution"]["Properties"]["DistributionConfig"]["CacheBehaviors"]
            .as_vec()
            .expect("DashboardDistribution has CacheBehaviors")
            .clone();
    let api_patterns: Vec<String> = behaviours
        .iter()
        .filter(|b| b["TargetOriginId"].as_str() == Some("conversations-api"))
        .map(|b| {
            let written = b["PathPattern"]["Fn::Sub"]
                .as_str()
                .expect("PathPattern is an Fn::Sub");
            written
                .strip_prefix("${LegacyBasePath}")
                .expect("API patterns start with the base path")
                .to_string()
        })
        .collect();
    assert_eq!(api_patterns.len(), 11, "{api_patterns:?}");

    let mut paths: Vec<String> = api_patterns
        .iter()
        .flat_map(|p| ["", "c-42", "a/b", "%2F"].map(|star| p.replace('*', star)))
        .collect();
    paths.extend(
        [
            "/api/conversations/",
            "/api/conversationsx",
            "/api/conversations/messages",
            "/api/conversations/c-42/messages/",
            "/api/conversations/c-42/messagesx",
            "/api/get-conversations.phpx",
            "/api/get-conversations.",
            "/api/get-conversation-messages.PHP",
            "/API/conversations",
            "/api/send-message.php",
            // The page's statistics stay on PHP (they count documents too).
            "/api/get-stats.php",
            "/api/stats/",
            "/api/check-updates",
            "/api//conversations",
            "/api/check-updates.php/",
            "/x/api/conversations",
        ]
        .map(String::from),
    );
    paths.sort();
    paths.dedup();

    let users = users();
    let ana = basic("ana", ANA);
    for base in ["/panel", ""] {
        let cases = paths
            .iter()
            .map(|path| case(path, get(&format!("{base}{path}"), &[("authorization", &ana)])))
            .collect();
        let o = run(&code_as_deployed(base), &users.kvs, cases);
        for path in &paths {
            let to_api = api_patterns
                .iter()
                .any(|p| pattern_matches(p.as_bytes(), path.as_bytes()));
            let expected = if to_api {
                path.clone()
            } else {
                format!("{base}{path}")
            };
            assert_eq!(
                o.result(path)["uri"],
                expected.as_str(),
                "base {base:?}, {path}: to the API? {to_api}"
            );
            o.assert_signed_in(path, "ana", &expected);
        }
    }
}

/// What Node runs but cloudfront-js-2.0 would not, by its documentation: "JavaScript
/// runtime 2.0 features for CloudFront Functions" (ES 5.1 with some of ES 6–12: const,
/// let, async/await at the top level, arrow functions; modules `crypto`, `buffer`,
/// `querystring` and `cloudfront`; crypto with createHash and createHmac only; Buffer
/// encodings utf8, hex, base64 and base64url; no timers, process, eval or Function).
#[test]
fn written_for_cloudfront_js_2_0() {
    let t = template();
    let f = sign_in_function(&t);
    let config = &f["Properties"]["FunctionConfig"];
    assert_eq!(config["Runtime"].as_str(), Some("cloudfront-js-2.0"));
    assert_eq!(
        config["KeyValueStoreAssociations"][0]["KeyValueStoreARN"]["Fn::GetAtt"],
        Yaml::Array(vec![
            Yaml::String("DashboardUsers".into()),
            Yaml::String("Arn".into())
        ]),
        "the function reads the stack's DashboardUsers store"
    );

    let written = code_as_written();
    // Fn::Sub takes every dollar-brace; only the two variables are meant.
    let mut rest = written.as_str();
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        let end = after.find('}').unwrap();
        assert!(
            after.starts_with('!') || ["LegacyBasePath", "DashboardUsers.Id"].contains(&&after[..end]),
            "Fn::Sub would substitute ${{{}}}",
            &after[..end]
        );
        rest = &after[end..];
    }
    // The runtime's quota: a function's code is at most 10 KB.
    for base in ["", "/a-rather/long/base-path"] {
        let deployed = code_as_deployed(base);
        assert!(deployed.len() <= 10 * 1024, "{} bytes", deployed.len());
    }

    // The code without its comments (whole-line // comments; the code has no others).
    let code: String = written
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !code.contains("/*"),
        "block comments: keep to // lines, which this check skips"
    );
    let forbidden = [
        (
            "`",
            "template literals: Fn::Sub would take their ${…}; concatenate strings",
        ),
        (
            "require(",
            "require(): the code imports its modules (one style, as the docs' KVS examples)",
        ),
        ("export ", "exports: CloudFront calls the top-level handler"),
        ("eval(", "eval: no dynamic code evaluation"),
        ("Function(", "Function constructors: no dynamic code evaluation"),
        ("setTimeout", "timers are not supported"),
        ("setInterval", "timers are not supported"),
        ("setImmediate", "timers are not supported"),
        ("process.", "no process object"),
        ("timingSafeEqual", "crypto has createHash and createHmac only"),
        ("randomBytes", "crypto has createHash and createHmac only"),
        ("pbkdf2", "crypto has createHash and createHmac only"),
        ("scrypt", "crypto has createHash and createHmac only"),
        ("subtle", "crypto has createHash and createHmac only"),
        ("'latin1'", "Buffer encodings: utf8, hex, base64, base64url"),
        ("'binary'", "Buffer encodings: utf8, hex, base64, base64url"),
        ("'ascii'", "Buffer encodings: utf8, hex, base64, base64url"),
        ("?.", "optional chaining is not listed"),
        ("??", "nullish coalescing is not listed"),
        (
            "...",
            "spread and rest elements are not listed (only rest parameters)",
        ),
        ("class ", "classes are not listed"),
        (" of ", "for…of is not listed"),
        ("new Map", "Map is not listed"),
        ("new Set", "Set is not listed"),
        ("WeakMap", "WeakMap is not listed"),
        (
            "Array.from",
            "Array.from is not listed (Array.of and TypedArray.from are)",
        ),
        ("Object.fromEntries", "Object.fromEntries is not listed"),
        (".at(", "Array/String .at() is not listed"),
        (".flat", "flat/flatMap are not listed"),
        ("structuredClone", "not listed"),
        ("fetch(", "no network access"),
    ];
    for (text, why) in forbidden {
        assert!(!code.contains(text), "SignInFunction uses {text:?}: {why}");
    }
    for line in code.lines() {
        if let Some(import) = line.strip_prefix("import ") {
            assert!(
                ["crypto from 'crypto';", "cf from 'cloudfront';"].contains(&import.trim_end()),
                "only default imports of crypto and cloudfront: {line}"
            );
        }
        if line.contains("async") {
            assert!(
                line.starts_with("async function "),
                "async functions at the top level only (no async closures or arrows): {line}"
            );
        }
        if let Some(at) = line.find("console.log(") {
            assert!(
                !line[at..].contains(','),
                "console.log takes one argument: {line}"
            );
        }
    }
    assert!(
        code.lines()
            .any(|l| l.starts_with("async function handler(event)")),
        "an async function handler(event) at the top level"
    );
}
