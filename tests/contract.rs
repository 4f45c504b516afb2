//! The contract suite (`tests/harness/contract.rs`) over the tricky data set, loaded with
//! `convo-admin import` and served by the real handlers as API Gateway 2.0 calls them,
//! in three configurations. `make contract` runs the same suite over HTTP against
//! `cargo lambda watch`.

use clap::Parser;
use integration_tests::apigw::Target;
use integration_tests::contract::{FIXTURE_ZONE, Model, Run, Setup, fixture_path, run_suite};
use integration_tests::{sdk_config, unique_table_name};
use jiff::tz::TimeZone;
use shared::config::Config;
use shared::http::App;
use shared::{Store, client};

async fn loaded_app(vars: &[(&str, &str)]) -> App {
    let table = unique_table_name("contract");
    let sdk = sdk_config().await;
    let admin = |args: &[&str]| {
        let mut argv = vec!["convo-admin", "--table", &table];
        argv.extend_from_slice(args);
        convo_admin::cli::Cli::try_parse_from(argv).unwrap()
    };
    convo_admin::cli::run(admin(&["create-table"]), &sdk)
        .await
        .unwrap();
    let conversations = fixture_path("conversations.jsonl");
    let messages = fixture_path("messages.jsonl");
    let import = admin(&[
        "import",
        "--conversations",
        &conversations,
        "--messages",
        &messages,
        "--source-timezone",
        FIXTURE_ZONE,
    ]);
    convo_admin::cli::run(import, &sdk).await.unwrap();
    let config = Config::from_lookup(|name| {
        if name == "TABLE_NAME" {
            return Some(table.clone());
        }
        vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    })
    .unwrap();
    App {
        store: Store::new(client::dynamodb_client(&sdk), &config.table_name),
        config,
    }
}

async fn suite(vars: &[(&str, &str)]) {
    let app = loaded_app(vars).await;
    let setup = Setup {
        time_zone: app.config.presentation.time_zone.clone(),
        legacy_sender_names: vars.contains(&("SENDER_TYPE_NAMES", "user-bot-human")),
        conversations_limit: app.config.conversations_limit as usize,
    };
    let model = Model::load(setup);
    let target = Target::InProcess(&app);
    let mut run = Run::new(&target);
    run_suite(&mut run, &model).await;
    println!("{} requests, {} mismatches", run.requests, run.failures.len());
    assert!(run.requests >= 300, "only {} requests", run.requests);
    assert!(
        run.failures.is_empty(),
        "{} of {} requests differ from the contract:\n{}",
        run.failures.len(),
        run.requests,
        run.failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_suite_in_utc() {
    suite(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_suite_in_the_legacy_zone_with_a_small_default_limit() {
    suite(&[("APP_TIMEZONE", "America/Bogota"), ("CONVERSATIONS_LIMIT", "9")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_suite_in_a_half_hour_zone_with_legacy_sender_names() {
    suite(&[
        ("APP_TIMEZONE", "Asia/Kolkata"),
        ("SENDER_TYPE_NAMES", "user-bot-human"),
    ])
    .await;
}

/// The same suite over HTTP against a running stack (`make contract` starts one):
/// CONTRACT_BASE_URL, and the stack's APP_TIMEZONE / SENDER_TYPE_NAMES / CONVERSATIONS_LIMIT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running stack: make contract"]
async fn contract_suite_over_http() {
    let base = std::env::var("CONTRACT_BASE_URL").expect("CONTRACT_BASE_URL");
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let setup = Setup {
        time_zone: TimeZone::get(&env("APP_TIMEZONE").unwrap_or_else(|| "UTC".into())).unwrap(),
        legacy_sender_names: env("SENDER_TYPE_NAMES").as_deref() == Some("user-bot-human"),
        conversations_limit: env("CONVERSATIONS_LIMIT").map_or(100, |v| v.parse().unwrap()),
    };
    let model = Model::load(setup);
    let target = Target::Http(base);
    let mut run = Run::new(&target);
    run_suite(&mut run, &model).await;
    println!(
        "{} requests over HTTP, {} mismatches",
        run.requests,
        run.failures.len()
    );
    assert!(run.failures.is_empty(), "{}", run.failures.join("\n"));
}
