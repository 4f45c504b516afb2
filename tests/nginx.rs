//! The migration runbook's nginx lines (docs/migration.md), as written, in a real nginx: the
//! original dashboard behind a sign-in (HTTP Basic over the whole `server {}` but the bot's
//! webhook), its eleven API paths proxied over TLS to the functions in `ACCESS=front` with the
//! front's secret and the signed-in name (and without the credentials), and the PHP host
//! locked to CloudFront.
//!
//! The blocks come from docs/migration.md by their markers
//! (`<!-- tested: tests/nginx.rs (NAME) -->`: server, api, snippet, lock), with only
//! deployment values replaced: the password file's path, the two secrets, and the trusted CA
//! file (the test's own CA). The API's host name stays: an `upstream` group of that name
//! (which nginx takes before its resolver) leads to a second `server {}` of the same nginx,
//! API Gateway's stand-in, which terminates TLS with a certificate for that name, answers
//! only to that name, and hands the request to the harness's gateway: the functions'
//! handlers in-process (API Gateway 2.0 events, with the request's headers), over a DynamoDB
//! Local table loaded by a sync from the test's MariaDB.
//! The site's own PHP handling — left to the site by the runbook — is `php -S` with a router
//! of the test's ([`integration_tests::nginx::PhpSite`]), the legacy files under `/panel/`.
//!
//! Skips, with one line saying why, without nginx, chromium, php (pdo_mysql),
//! playwright-core (`make node-tools`) or the legacy repository; `BROWSER_TEST_REQUIRED=1`
//! fails instead.

use integration_tests::live_writes::LiveWrites;
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use convo_admin::cli::{Cli, run};
use convo_admin::sync::{self, legacy_db};
use integration_tests::apigw;
use integration_tests::browser::{self, Browser, Gateway, LegacyApp, Prerequisites};
use integration_tests::live_writes::NewMessage;
use integration_tests::mariadb::{LegacyDb, mariadb};
use integration_tests::nginx::{
    API_HOST, Answer, Nginx, PhpSite, TestCa, basic, free_port, htpasswd_line, migration_block, request,
    substitute, temp_folder,
};
use integration_tests::{sdk_config, unique_table_name};
use mysql_async::prelude::Queryable;
use serde_json::{Value, json};
use shared::Store;
use shared::http::App;
use shared::model::SenderType;

/// The stack's `FrontSecret` here (the API's; at least 32 characters).
const FRONT_SECRET: &str = "nginx-test-FrontSecret-0123456789abcdef";
/// CloudFront's secret towards the PHP host (`LegacyOriginSecret`), another one.
const ORIGIN_SECRET: &str = "nginx-test-LegacyOriginSecret-0123456789";
const USER: &str = "ana.agent";
const PASSWORD: &str = "correct-horse-battery-staple-42";

/// How long a change may take to show in the page (its polls every 1.5 s and 3 s), on a
/// loaded 2-core machine, many times over.
const APPEAR: Duration = Duration::from_secs(60);

/// The conversation the browser opens.
const OPEN: u64 = 1;

/// The legacy data (times in the server's zone, relative to now); a sync loads the table.
const SEED: &str = "
INSERT INTO conversations (id, phone_number, contact_name, status, ai_enabled, last_message_at, created_at, updated_at) VALUES
  (1, '573001112233', 'Ana Gómez', 'active', 1, NOW() - INTERVAL 5 MINUTE, NOW() - INTERVAL 2 DAY, NOW() - INTERVAL 5 MINUTE),
  (2, '573004445566', 'Bruno Díaz', 'active', 0, NOW() - INTERVAL 30 MINUTE, NOW() - INTERVAL 3 DAY, NOW() - INTERVAL 30 MINUTE);
INSERT INTO messages (conversation_id, message_id, sender_type, message_text, media_type, confidence_score, created_at) VALUES
  (1, 'wamid.seed.1', 'user', 'Hola, buenas tardes', 'text', NULL, NOW() - INTERVAL 7 MINUTE),
  (1, NULL, 'bot', '¡Hola! ¿En qué te puedo ayudar?', 'text', 0.93, NOW() - INTERVAL 6 MINUTE),
  (1, 'wamid.seed.2', 'user', 'Quiero saber el precio del plan mensual', 'text', NULL, NOW() - INTERVAL 5 MINUTE),
  (2, 'wamid.seed.3', 'user', 'Necesito hablar con una persona', 'text', NULL, NOW() - INTERVAL 31 MINUTE);
";

/// The eleven API paths as the page (or a client of the contract) calls them under `/panel`,
/// and a text each answer must hold.
const API_PATHS: [(&str, &str); 11] = [
    ("/panel/api/conversations", "Ana Gómez"),
    ("/panel/api/conversations/counts", "\"active\":2"),
    ("/panel/api/get-conversation-counts.php", "\"messages\":4"),
    ("/panel/api/stats", "\"total_messages\":4"),
    ("/panel/api/conversations/1/messages", "Quiero saber el precio"),
    ("/panel/api/get-conversations", "Bruno Díaz"),
    ("/panel/api/get-conversations.php", "Ana Gómez"),
    ("/panel/api/get-conversation-messages?id=1", "Hola, buenas tardes"),
    (
        "/panel/api/get-conversation-messages.php?id=1&offset=0&limit=20",
        "Quiero saber el precio",
    ),
    ("/panel/api/check-updates.php", "server_time"),
    (
        "/panel/api/check-conversation-updates.php?last_check=2020-01-01%2000:00:00",
        "updated_conversations",
    ),
];

/// The page, an asset and a PHP write endpoint: the PHP host's part.
const PAGE: &str = "/panel/conversations";
const ASSET: &str = "/panel/assets/js/conversations.js";
const PHP_WRITE: &str = "/panel/api/toggle-ai.php?id=1";
const WEBHOOK: &str = "/panel/webhook?hub.mode=subscribe&hub.verify_token=not-the-token&hub.challenge=4242";

/// Everything one test runs: data, the functions, the PHP site, and nginx in front.
struct Scene {
    pre: Prerequisites,
    table: String,
    store: Store,
    page: LegacyApp,
    site: PhpSite,
    gateway: Gateway,
    nginx: Nginx,
    /// The dashboard's server: the sign-in, the API paths (runbook: server, api, snippet).
    dashboard: u16,
    /// The same site locked to its front (runbook: lock).
    locked: u16,
    _db: LegacyDb,
}

async fn admin(table: &str, args: &[&str]) {
    let mut argv = vec!["convo-admin", "--table", table];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv).unwrap(), &sdk_config().await)
        .await
        .unwrap_or_else(|e| panic!("convo-admin {args:?}: {e:#}"));
}

/// The functions' handlers over `table` as the legacy dashboard's stack in `Access=front`.
async fn front_app(table: &str) -> App {
    let sdk = sdk_config().await;
    let config = shared::config::Config::from_lookup(|k| match k {
        "TABLE_NAME" => Some(table.to_string()),
        "SENDER_TYPE_NAMES" => Some("user-bot-human".into()),
        "ACCESS" => Some("front".into()),
        "FRONT_SECRET" => Some(FRONT_SECRET.into()),
        _ => None,
    })
    .expect("a valid front configuration");
    App {
        store: Store::new(shared::client::dynamodb_client(&sdk), &config.table_name),
        config,
    }
}

/// The `http {}` contents: the runbook's blocks in the dashboard's server and in the locked
/// one, the test's stand-ins for the site's PHP handling and for API Gateway.
fn nginx_http(dir: &Path, ca: &TestCa, php: u16, gateway: u16, ports: [u16; 3]) -> String {
    let [dashboard, locked, api_tls] = ports;
    let htpasswd = dir.join("dashboard.htpasswd");
    std::fs::write(&htpasswd, htpasswd_line(USER, PASSWORD)).expect("write the password file");
    let ca_file = ca.ca_cert.display().to_string();
    let snippet = substitute(
        &migration_block("snippet"),
        "snippet",
        &[
            ("<FrontSecret>", FRONT_SECRET),
            ("/etc/ssl/certs/ca-certificates.crt", &ca_file),
        ],
    );
    std::fs::create_dir_all(dir.join("snippets")).expect("create snippets/");
    std::fs::write(dir.join("snippets/conversations-api.conf"), snippet).expect("write the snippet");

    let server = substitute(
        &migration_block("server"),
        "server",
        &[("/etc/nginx/dashboard.htpasswd", &htpasswd.display().to_string())],
    );
    // The webhook's location gets the site's PHP handling, which the runbook leaves to the
    // site: here php -S, right after `auth_basic off;`.
    let mut lines: Vec<String> = server.lines().map(str::to_string).collect();
    let at: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].trim() == "auth_basic off;")
        .collect();
    assert_eq!(
        at.len(),
        1,
        "the server block has one `auth_basic off;`:\n{server}"
    );
    lines.insert(
        at[0] + 1,
        format!(
            "    proxy_pass http://127.0.0.1:{php}; proxy_set_header Host $host;  # the test's PHP handling"
        ),
    );
    let server = lines.join("\n");
    let api = migration_block("api");
    let lock = substitute(
        &migration_block("lock"),
        "lock",
        &[("<LegacyOriginSecret>", ORIGIN_SECRET)],
    );
    let site = format!(
        "# The site's own handling of everything else (its root and \\.php$ locations): the\n\
         # test's stand-in, php -S.\n\
         location / {{ proxy_pass http://127.0.0.1:{php}; proxy_set_header Host $host; }}"
    );
    format!(
        "# DNS's stand-in: proxy_pass to the variable's value finds this group by its name.\n\
         upstream {API_HOST} {{ server 127.0.0.1:{api_tls}; }}\n\
         \n\
         # The dashboard, signed in: docs/migration.md (server), (api), and (snippet) by its include.\n\
         server {{\n\
         listen 127.0.0.1:{dashboard};\n\
         server_name panel.example.com;\n\
         {server}\n\
         {api}\n\
         {site}\n\
         }}\n\
         \n\
         # The PHP host locked to CloudFront: docs/migration.md (lock).\n\
         server {{\n\
         listen 127.0.0.1:{locked};\n\
         server_name origin.panel.example.com;\n\
         {lock}\n\
         {site}\n\
         }}\n\
         \n\
         # API Gateway's stand-in: TLS for the API's name only, then the functions.\n\
         server {{\n\
         listen 127.0.0.1:{api_tls} ssl;\n\
         server_name {API_HOST};\n\
         ssl_certificate {cert};\n\
         ssl_certificate_key {key};\n\
         if ($ssl_server_name != \"{API_HOST}\") {{ return 421; }}\n\
         if ($host != \"{API_HOST}\") {{ return 421; }}\n\
         location / {{ proxy_pass http://127.0.0.1:{gateway}; proxy_set_header Host $host; }}\n\
         }}\n",
        cert = ca.cert.display(),
        key = ca.key.display(),
    )
}

impl Scene {
    async fn start(prefix: &str) -> Option<Scene> {
        let pre = browser::prerequisites_with_nginx()?;
        let table = unique_table_name(prefix);
        admin(&table, &["create-table"]).await;
        let db = mariadb().database(prefix).await;
        {
            let mut conn = db.admin().await;
            conn.query_drop(SEED).await.unwrap();
            conn.disconnect().await.unwrap();
        }
        let store = Store::new(shared::client::dynamodb_client(&sdk_config().await), &table);
        let legacy = legacy_db::LegacyDb::new(&db.reader_url).unwrap();
        let options = sync::Options {
            follow: false,
            interval: Duration::from_secs(2),
            window: Duration::from_secs(60),
            batch: 5000,
            metrics: None,
        };
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let summary = sync::run(
            &writer::Writer::of(&store),
            &legacy,
            &options,
            stopped,
            &mut std::io::stdout(),
        )
        .await
        .expect("the sync");
        println!("sync: {summary}");
        legacy.disconnect().await;

        let app = front_app(&table).await;
        let page = LegacyApp::extract(&pre);
        let site = PhpSite::start(&pre, &page, &db);
        let gateway = Gateway::start(app, site.port(), tokio::runtime::Handle::current());
        let dir = temp_folder("convo-nginx");
        let ca = TestCa::new(&dir);
        let ports = [free_port(), free_port(), free_port()];
        let http = nginx_http(&dir, &ca, site.port(), gateway.port, ports);
        let nginx = Nginx::start(&pre, &dir, &http, &ports);
        println!(
            "nginx {} (dashboard :{}, locked :{}, API's TLS :{}), php -S :{} (log {}), gateway :{}, legacy commit {}",
            dir.display(),
            ports[0],
            ports[1],
            ports[2],
            site.port(),
            site.php.log.display(),
            gateway.port,
            page.commit
        );
        Some(Scene {
            pre,
            table,
            store,
            page,
            site,
            gateway,
            nginx,
            dashboard: ports[0],
            locked: ports[1],
            _db: db,
        })
    }

    /// One request (off the runtime's threads: the gateway runs the handlers on them).
    async fn fetch(&self, port: u16, method: &str, target: &str, headers: &[(&str, &str)]) -> Answer {
        let (method, target) = (method.to_string(), target.to_string());
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tokio::task::spawn_blocking(move || {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            request(port, &method, &target, &headers, b"")
        })
        .await
        .expect("the request's task")
    }

    /// What failed, with nginx's error log and the API's calls.
    fn context(&self) -> String {
        let calls: Vec<String> = self
            .gateway
            .calls()
            .iter()
            .map(|c| format!("{} -> {} {:?}", c.target, c.status, c.headers))
            .collect();
        format!(
            "nginx's error log:\n{}\nAPI calls:\n{}",
            self.nginx.errors(),
            calls.join("\n")
        )
    }
}

/// nginx's own 401: the Basic challenge of the runbook's realm, PHP and the API not reached.
fn assert_challenged(answer: &Answer, what: &str, scene: &Scene) {
    assert_eq!(
        answer.status,
        401,
        "{what}: {}\n{}",
        answer.text(),
        scene.context()
    );
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Basic realm=\"Dashboard\""),
        "{what}"
    );
    assert_eq!(answer.header("x-test-site"), None, "{what}: PHP answered");
}

fn assert_forbidden_envelope(answer: &Answer, path: &str) {
    let api_path = path.split('?').next().unwrap_or_default();
    let route = apigw::handler_of(api_path);
    assert_eq!(answer.status, 403, "{path}: {}", answer.text());
    let body = answer.json();
    assert_eq!(body["success"], json!(false), "{path}: {body}");
    assert_eq!(body["error"], json!(route.legacy_error), "{path}: {body}");
    assert_eq!(body["code"], json!("forbidden"), "{path}: {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{path}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_guards_the_whole_panel_and_the_api_gets_the_front_secret() {
    let Some(scene) = Scene::start("nginx_signin").await else {
        return;
    };
    let started = Instant::now();
    let port = scene.dashboard;
    let right = basic(USER, PASSWORD);
    let wrong_password = basic(USER, "correct-horse-battery-staple-43");
    let stranger = basic("mallory", PASSWORD);

    // Without credentials, or with wrong ones: nginx's 401 everywhere but the webhook.
    let mut guarded: Vec<(&str, &str)> = vec![
        ("GET", "/panel/"),
        ("GET", PAGE),
        ("GET", ASSET),
        ("POST", PHP_WRITE),
        ("POST", "/panel/api/reply-conversation.php?id=1"),
    ];
    guarded.extend(API_PATHS.iter().map(|(path, _)| ("GET", *path)));
    for (method, target) in &guarded {
        let answer = scene.fetch(port, method, target, &[]).await;
        assert_challenged(&answer, &format!("{method} {target} without credentials"), &scene);
        for (who, auth) in [
            ("a wrong password", &wrong_password),
            ("an unknown user", &stranger),
        ] {
            let answer = scene
                .fetch(port, method, target, &[("Authorization", auth)])
                .await;
            assert_challenged(&answer, &format!("{method} {target} with {who}"), &scene);
        }
    }
    assert!(
        scene.gateway.calls().is_empty(),
        "requests without the sign-in reached the API:\n{}",
        scene.context()
    );

    // The bot's webhook: no credentials, and PHP answers (whatever it says).
    let answer = scene.fetch(port, "GET", WEBHOOK, &[]).await;
    assert_ne!(answer.status, 401, "the webhook asked for a sign-in");
    assert_eq!(
        answer.header("x-test-site"),
        Some("php"),
        "the webhook did not reach PHP: {} {}",
        answer.status,
        answer.text()
    );
    println!("webhook without credentials: PHP answered {}", answer.status);

    // Signed in: the page and its asset from PHP, the write endpoint reaches PHP.
    let auth = [("Authorization", right.as_str())];
    let answer = scene.fetch(port, "GET", PAGE, &auth).await;
    assert_eq!(answer.status, 200, "the page: {}", answer.text());
    assert_eq!(answer.header("x-test-site"), Some("php"));
    assert!(
        answer.text().contains("conversations-list") && answer.text().contains("const BASE_PATH = '/panel'"),
        "the page's shell, under /panel: {}",
        answer.text()
    );
    let answer = scene.fetch(port, "GET", ASSET, &auth).await;
    assert_eq!(answer.status, 200, "the asset");
    let file = std::fs::read(scene.page.dir.join("assets/js/conversations.js")).unwrap();
    assert!(answer.body == file, "the asset's bytes differ from the file's");
    let answer = scene.fetch(port, "POST", PHP_WRITE, &auth).await;
    assert_eq!(
        answer.header("x-test-site"),
        Some("php"),
        "the write endpoint did not reach PHP: {} {}",
        answer.status,
        answer.text()
    );
    assert!(scene.gateway.calls().is_empty(), "PHP paths reached the API");

    // Signed in, the ten paths: the API's answers, with data. A client's own
    // X-Origin-Verify and X-Dashboard-User are replaced, not passed along.
    for (path, holds) in API_PATHS {
        let before = scene.gateway.calls().len();
        let answer = scene
            .fetch(
                port,
                "GET",
                path,
                &[
                    ("Authorization", &right),
                    ("X-Origin-Verify", "a-guess-from-the-client"),
                    ("X-Dashboard-User", "mallory"),
                ],
            )
            .await;
        assert_eq!(
            answer.status,
            200,
            "{path}: {}\n{}",
            answer.text(),
            scene.context()
        );
        let body = answer.json();
        assert!(
            body.to_string().contains(holds),
            "{path}: the answer does not hold {holds:?}: {body}"
        );
        if body.get("success").is_some() {
            assert_eq!(body["success"], json!(true), "{path}: {body}");
        }
        let calls = scene.gateway.calls();
        assert_eq!(calls.len(), before + 1, "{path}: one API call");
        let call = &calls[before];
        let api_path = path.strip_prefix("/panel").unwrap();
        assert_eq!(call.target, api_path, "{path}: the API's path and query");
        assert_eq!(call.status, 200);
        assert_eq!(
            call.header("x-origin-verify"),
            Some(FRONT_SECRET),
            "{path}: the front's secret, alone"
        );
        assert_eq!(
            call.header("x-dashboard-user"),
            Some(USER),
            "{path}: the signed-in name, alone"
        );
        assert_eq!(
            call.header("authorization"),
            None,
            "{path}: the credentials went along"
        );
        assert_eq!(call.header("host"), Some(API_HOST), "{path}");
    }
    println!("the ten paths answered through nginx, each with the secret and {USER:?}");

    // The API asked directly (its execute-api address): 403 in the legacy envelope, without
    // the secret and with a wrong one.
    let before = scene.gateway.calls().len();
    for (path, _) in API_PATHS {
        let api_path = path.strip_prefix("/panel").unwrap();
        let answer = scene.fetch(scene.gateway.port, "GET", api_path, &[]).await;
        assert_forbidden_envelope(&answer, api_path);
        let answer = scene
            .fetch(
                scene.gateway.port,
                "GET",
                api_path,
                &[("X-Origin-Verify", ORIGIN_SECRET), ("X-Dashboard-User", USER)],
            )
            .await;
        assert_forbidden_envelope(&answer, api_path);
    }
    let direct = scene.gateway.calls();
    assert_eq!(direct.len(), before + 2 * API_PATHS.len());
    assert!(direct[before..].iter().all(|c| c.status == 403));
    println!(
        "sign-in test done in {:.1} s (table {})",
        started.elapsed().as_secs_f64(),
        scene.table
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_locked_php_host_answers_only_its_front_but_the_webhook() {
    let Some(scene) = Scene::start("nginx_lock").await else {
        return;
    };
    let started = Instant::now();
    let port = scene.locked;
    let from_front = [("X-Origin-Verify", ORIGIN_SECRET)];
    let parts = [
        ("GET", "/panel/"),
        ("GET", PAGE),
        ("GET", ASSET),
        ("POST", PHP_WRITE),
        // Behind CloudFront the API paths never come here; the host still refuses them.
        ("GET", "/panel/api/get-conversations.php"),
        // Only the webhook's exact path is open.
        ("GET", "/panel/webhook/"),
        ("GET", "/panel/webhooks"),
        ("GET", "/panel/webhook/../conversations"),
    ];
    for (method, target) in parts {
        for (how, headers) in [
            ("without the header", vec![]),
            ("with the API's secret", vec![("X-Origin-Verify", FRONT_SECRET)]),
            ("with a near miss", vec![("X-Origin-Verify", &ORIGIN_SECRET[1..])]),
        ] {
            let answer = scene.fetch(port, method, target, &headers).await;
            assert_eq!(
                answer.status,
                403,
                "{method} {target} {how}: {}\n{}",
                answer.text(),
                scene.context()
            );
            assert_eq!(
                answer.header("x-test-site"),
                None,
                "{method} {target} {how}: PHP answered"
            );
        }
    }

    // Through the front: served.
    let answer = scene.fetch(port, "GET", PAGE, &from_front).await;
    assert_eq!(answer.status, 200, "the page: {}", answer.text());
    assert_eq!(answer.header("x-test-site"), Some("php"));
    assert!(answer.text().contains("conversations-list"));
    let answer = scene.fetch(port, "GET", ASSET, &from_front).await;
    assert_eq!(answer.status, 200, "the asset");
    let answer = scene.fetch(port, "POST", PHP_WRITE, &from_front).await;
    assert_eq!(
        answer.header("x-test-site"),
        Some("php"),
        "the write endpoint: {} {}",
        answer.status,
        answer.text()
    );

    // The webhook, from anyone.
    for headers in [vec![], from_front.to_vec()] {
        let answer = scene.fetch(port, "GET", WEBHOOK, &headers).await;
        assert_eq!(
            answer.header("x-test-site"),
            Some("php"),
            "the webhook ({headers:?}): {} {}",
            answer.status,
            answer.text()
        );
    }
    let answer = scene.fetch(port, "POST", "/panel/webhook", &[]).await;
    assert_eq!(answer.header("x-test-site"), Some("php"), "POST to the webhook");
    assert!(
        scene.gateway.calls().is_empty(),
        "the locked host reached the API"
    );
    println!("lock test done in {:.1} s", started.elapsed().as_secs_f64());
}

/// What the page shows and what the API answered, for a failure's message.
async fn report(browser: &mut Browser, scene: &Scene) -> String {
    let mut lines = Vec::new();
    let shot = browser::output_dir().join(format!("{}-failure.png", scene.table));
    if browser
        .call(json!({"op": "screenshot", "path": shot}), Duration::from_secs(30))
        .await
        .is_ok()
    {
        lines.push(format!("screenshot: {}", shot.display()));
    }
    for selector in ["#conversations-list", "#messages-content"] {
        if let Ok(v) = browser
            .call(
                json!({"op": "text", "selector": selector}),
                Duration::from_secs(30),
            )
            .await
        {
            let text = v["value"].as_str().unwrap_or_default();
            lines.push(format!(
                "{selector}: {}",
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
    }
    let calls = scene.gateway.calls();
    lines.push("the API's latest calls:".to_string());
    for c in &calls[calls.len().saturating_sub(12)..] {
        lines.push(format!("  {} -> {} {}", c.target, c.status, c.body));
    }
    lines.push(scene.context());
    lines.join("\n")
}

async fn expect_text(browser: &mut Browser, scene: &Scene, selector: &str, text: &str, what: &str) {
    let cmd =
        json!({"op": "waitText", "selector": selector, "text": text, "timeoutMs": APPEAR.as_millis() as u64});
    if let Err(e) = browser.call(cmd, APPEAR + Duration::from_secs(30)).await {
        let report = report(browser, scene).await;
        panic!("{what}: {text:?} did not appear in {selector} within {APPEAR:?} ({e})\n{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_page_works_behind_the_sign_in() {
    let Some(scene) = Scene::start("nginx_page").await else {
        return;
    };
    let started = Instant::now();
    let url = format!("http://127.0.0.1:{}{PAGE}", scene.dashboard);
    let mut browser = Browser::start(&scene.pre);

    // No credentials: the challenge, and nothing else.
    let refused = browser
        .call(json!({"op": "open", "url": url}), Duration::from_secs(120))
        .await
        .unwrap_or_else(|e| panic!("open {url} without credentials: {e}"));
    assert_eq!(refused["status"], json!(401), "without credentials: {refused}");

    // The sign-in dialog's part: the browser answers the challenge with these.
    browser
        .call(
            json!({"op": "launch", "httpCredentials": {"username": USER, "password": PASSWORD}}),
            Duration::from_secs(120),
        )
        .await
        .expect("relaunch the browser with credentials");
    let opened = browser
        .call(json!({"op": "open", "url": url}), Duration::from_secs(120))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "open {url} signed in: {e}\nphp log:\n{}\n{}",
                std::fs::read_to_string(&scene.site.php.log).unwrap_or_default(),
                scene.context()
            )
        });
    assert_eq!(opened["status"], json!(200), "signed in: {opened}");
    println!("opened {url} signed in: {}", opened["title"]);

    expect_text(
        &mut browser,
        &scene,
        "#conversations-list",
        "Ana Gómez",
        "the inbox",
    )
    .await;
    browser
        .call(
            json!({"op": "click", "selector": format!("#conversations-list [data-conv-id=\"{OPEN}\"]")}),
            Duration::from_secs(60),
        )
        .await
        .expect("click the conversation");
    expect_text(
        &mut browser,
        &scene,
        "#messages-content",
        "Quiero saber el precio del plan mensual",
        "the open conversation",
    )
    .await;

    // A new message in the table: the page's polls, through nginx, bring it.
    let text = "¿Hacen envíos a Cali?";
    scene
        .store
        .append_message(OPEN, NewMessage::text(SenderType::Customer, text))
        .await
        .expect("append a message");
    let written = Instant::now();
    expect_text(&mut browser, &scene, "#messages-content", text, "the new message").await;
    println!(
        "the new message showed {:.1} s after its write",
        written.elapsed().as_secs_f64()
    );

    // Every API call came through nginx with the secret and the name, none failed.
    let calls = scene.gateway.calls();
    let polls = calls
        .iter()
        .filter(|c| c.target.starts_with("/api/check-updates.php"))
        .count();
    assert!(polls > 0, "the page's polls did not reach the API");
    for c in &calls {
        assert_eq!(c.status, 200, "{} -> {} {}", c.target, c.status, c.body);
        assert_eq!(c.header("x-origin-verify"), Some(FRONT_SECRET), "{}", c.target);
        assert_eq!(c.header("x-dashboard-user"), Some(USER), "{}", c.target);
        assert_eq!(c.header("authorization"), None, "{}", c.target);
    }
    println!(
        "API calls: {} ({polls} check-updates.php), all through nginx, signed in as {USER:?}",
        calls.len()
    );
    // The poll that brought it: the open conversation's, after the write, through nginx.
    let reported = calls.iter().any(|c| {
        c.at >= written
            && c.target.starts_with("/api/check-updates.php?")
            && c.target.contains(&format!("conversation_id={OPEN}"))
            && serde_json::from_str::<Value>(&c.body).is_ok_and(|b| b["has_update"] == json!(true))
    });
    let targets: Vec<&str> = calls.iter().map(|c| c.target.as_str()).collect();
    assert!(
        reported,
        "no poll of the page reported the new message: {targets:?}"
    );
    browser.close().await;
    println!("page test done in {:.1} s", started.elapsed().as_secs_f64());
}
