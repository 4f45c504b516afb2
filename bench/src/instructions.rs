//! `bench instructions [DIR] [WARM]`: the user-space instructions each release `bootstrap`
//! (and the hello floor) executes at init, for its cold request and per warm invocation,
//! counted by valgrind's callgrind under the local Runtime API against DynamoDB Local.
//!
//! Why instructions and why callgrind: wall-clock and CPU time on the shared 2-core VM
//! move by a third from run to run, so small changes cannot be compared with them; an
//! instruction count barely moves. This VM exposes no hardware counters (`perf stat -e
//! instructions` is "not supported"), so the counting is valgrind's, which is exact for
//! user space (the kernel's share is not counted). Each process runs init, then 0, 1 or
//! 1 + WARM invocations and is stopped with SIGTERM, on which callgrind writes its totals;
//! warm per invocation is the difference of the last two over WARM. The callgrind files
//! stay in `target/instructions/` for `callgrind_annotate`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use integration_tests::runtime_api::{Report, RuntimeApi};
use integration_tests::{apigw, workspace_root};

use crate::functions::{FUNCTIONS, function_env, warm_url};

const HELLO: &str = "hello-floor";
const REPEATS: usize = 3;

/// Instructions of one process that ran init and `invocations` invocations of `event`.
fn run(bin: &Path, env: &[(String, String)], event: &[u8], invocations: usize, out: &Path) -> u64 {
    let api = RuntimeApi::start();
    let mut valgrind = Command::new("valgrind");
    valgrind
        .args(["--tool=callgrind", "-q"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(bin);
    let mut child = crate::functions::lambda_env(&mut valgrind, &api, env)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start valgrind (apt-get install valgrind)");
    let next = |what: &str| loop {
        match api.expect(what) {
            Report::Next(_) => return,
            Report::Error(e) => panic!("{}: {e}", bin.display()),
            _ => {}
        }
    };
    next("ask for its first event");
    for _ in 0..invocations {
        api.send(event.to_vec());
        loop {
            match api.expect("answer") {
                Report::Response { body, .. } => {
                    let answer: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
                    assert_eq!(answer["statusCode"], 200, "unexpected answer: {answer}");
                    break;
                }
                Report::Error(e) => panic!("{}: {e}", bin.display()),
                _ => {}
            }
        }
        next("ask for its next event");
    }
    // Idle, waiting on /next: SIGTERM ends it and callgrind writes what it counted.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let _ = child.wait();
    let text = std::fs::read_to_string(out).expect("callgrind's output");
    text.lines()
        .find_map(|l| l.strip_prefix("summary: ").or_else(|| l.strip_prefix("totals: ")))
        .and_then(|n| n.split_whitespace().next()?.parse().ok())
        .expect("a callgrind summary line")
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

pub fn instructions(table: &str, endpoint: &str, dir: Option<PathBuf>, warm: usize) {
    let dir = dir.unwrap_or_else(|| workspace_root().join("target/lambda"));
    let out_dir = workspace_root().join("target/instructions");
    std::fs::create_dir_all(&out_dir).expect("create target/instructions");
    let env = function_env(table, endpoint);
    println!(
        "user-space instructions (callgrind), medians of {REPEATS}; bootstraps in {}",
        dir.display()
    );
    for name in std::iter::once(HELLO).chain(FUNCTIONS) {
        let bin = dir.join(name).join("bootstrap");
        let url = warm_url(if name == HELLO { FUNCTIONS[0] } else { name });
        let event = serde_json::to_vec(&apigw::event("GET", url)).expect("an event");
        let stage = |invocations: usize| {
            median(
                (0..REPEATS)
                    .map(|i| {
                        let out = out_dir.join(format!("{name}-{invocations}-{i}.out"));
                        run(&bin, &env, &event, invocations, &out)
                    })
                    .collect(),
            )
        };
        let init = stage(0);
        let cold = stage(1);
        let warmed = stage(1 + warm);
        println!(
            "{name}: init {init}, cold request {cold} (first invocation {}), warm per invocation {} ({url})",
            cold.saturating_sub(init),
            warmed.saturating_sub(cold) / warm as u64
        );
    }
}
