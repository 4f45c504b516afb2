//! The real `bootstrap` binary's start-up: a clear message on bad configuration, and no
//! network call before the first request (the SDK client is built, not used).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_get-conversations");

fn start(envs: &[(&str, &str)]) -> std::process::Output {
    Command::new(BIN)
        .env_clear()
        .envs(envs.iter().copied())
        .output()
        .expect("run the function binary")
}

#[test]
fn missing_table_name_stops_start_up_with_a_clear_message() {
    let out = start(&[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TABLE_NAME is not set"), "{stderr}");
}

#[test]
fn unknown_time_zone_stops_start_up_with_a_clear_message() {
    let out = start(&[("TABLE_NAME", "t"), ("APP_TIMEZONE", "Mars/Olympus")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("APP_TIMEZONE \"Mars/Olympus\" is not an IANA time zone"),
        "{stderr}"
    );
}

#[test]
fn init_makes_no_network_call_before_asking_for_the_first_event() {
    let runtime_api = TcpListener::bind("127.0.0.1:0").unwrap();
    let dynamodb = TcpListener::bind("127.0.0.1:0").unwrap();
    dynamodb.set_nonblocking(true).unwrap();
    let mut child = Command::new(BIN)
        .env_clear()
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            runtime_api.local_addr().unwrap().to_string(),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "get-conversations")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("TABLE_NAME", "t")
        .env("AWS_REGION", "us-east-1")
        .env(
            "AWS_ENDPOINT_URL_DYNAMODB",
            format!("http://{}", dynamodb.local_addr().unwrap()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // The first thing the function does on the network: ask the Runtime API for an event.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(runtime_api.accept()));
    let Ok(accepted) = rx.recv_timeout(Duration::from_secs(30)) else {
        child.kill().unwrap();
        panic!("the function never asked the Runtime API for an event");
    };
    let (conn, _) = accepted.unwrap();
    let mut line = String::new();
    BufReader::new(conn).read_line(&mut line).unwrap();
    let init = started.elapsed();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        line.starts_with("GET /2018-06-01/runtime/invocation/next"),
        "{line:?}"
    );
    assert!(
        matches!(dynamodb.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "init connected to DynamoDB"
    );
    assert!(init < Duration::from_secs(5), "init took {init:?}");
}
