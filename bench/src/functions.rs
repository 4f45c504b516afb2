//! The functions as Lambda bills them: each release `bootstrap` (and the hello floor) runs
//! under a local Runtime API (`tests/harness/runtime_api.rs`), talking to DynamoDB Local
//! through a timing relay (`FaultyEndpoint::timing`). An invocation's CPU is the time from
//! the event handed over to the response received, minus the time its requests spent
//! beyond the relay: the SDK's signing and parsing, the rendering and the runtime's own
//! round trip all count, as on Lambda.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use integration_tests::faults::FaultyEndpoint;
use integration_tests::runtime_api::{Report, RuntimeApi};
use integration_tests::{apigw, dynamodb, workspace_root};

use crate::model::{self, Measured};
use crate::{Results, median, ms};

pub const FUNCTIONS: [&str; 2] = ["get-conversations", "get-conversation-messages"];
/// The floor: `bench/hello`, the same runtime crates and profile, no SDK.
const HELLO: &str = "hello-floor";
const COLD_STARTS: usize = 51;
const WARM_INVOCATIONS: usize = 500;

const INIT: &str = "Init and cold request, against the hello floor of the same run";
const WARM: &str = "Warm invocation (billed CPU: event handed over → response received, minus DynamoDB)";
const MEMORY: &str = "Memory";
const OTHER_RUNTIMES: &str = "Init of the same function on other runtimes (wall)";

/// The two warm invocations the bench times: an inbox page of 100 (the legacy default
/// limit) and a page of 20 messages.
pub fn warm_url(function: &str) -> &'static str {
    if function == "get-conversations" {
        "/api/get-conversations.php?status=pending_human"
    } else {
        "/api/get-conversation-messages.php?id=1&offset=0&limit=20"
    }
}

pub fn lambda_dir(function: &str) -> PathBuf {
    workspace_root().join("target/lambda").join(function)
}

fn bootstrap(function: &str) -> PathBuf {
    let path = lambda_dir(function).join("bootstrap");
    assert!(path.exists(), "{} missing: run `make bench`", path.display());
    path
}

/// A function process under the local Runtime API, with its log lines.
struct Function {
    child: Child,
    logs: Receiver<String>,
    started: Instant,
}

/// One invocation as the Runtime API and the relay saw it.
struct Invocation {
    /// Event handed over → response received.
    elapsed: Duration,
    /// The part of it the function's requests spent beyond the relay.
    dynamodb: Duration,
    /// Requests the function sent to DynamoDB.
    requests: usize,
    body: Vec<u8>,
}

impl Invocation {
    /// What Lambda bills that is the function's own doing.
    fn cpu(&self) -> Duration {
        self.elapsed.saturating_sub(self.dynamodb)
    }
}

/// The environment Lambda gives a function (and `env`), nothing of this process's but PATH.
pub fn lambda_env<'c>(
    command: &'c mut Command,
    api: &RuntimeApi,
    env: &[(String, String)],
) -> &'c mut Command {
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn spawn(command: &mut Command, api: &RuntimeApi, env: &[(String, String)]) -> Function {
    lambda_env(command, api, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let (tx, logs) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Function { child, logs, started }
}

impl Function {
    /// Init: from process start to the first request for an event.
    fn init_time(&self, api: &RuntimeApi) -> Duration {
        loop {
            match api.expect("ask for its first event") {
                Report::Next(at) => return at - self.started,
                Report::Error(e) => panic!("init error: {e}"),
                _ => {}
            }
        }
    }

    /// One invocation of `event`; `relay` is where the function's DynamoDB requests go.
    fn invoke(&self, api: &RuntimeApi, event: &[u8], relay: Option<&FaultyEndpoint>) -> Invocation {
        let (waited, sent) = relay.map_or((Duration::ZERO, 0), |r| (r.forwarded_time(), r.requests()));
        api.send(event.to_vec());
        let delivered = loop {
            match api.expect("take the event") {
                Report::Delivered(at) => break at,
                Report::Error(e) => panic!("invocation error: {e}"),
                _ => {}
            }
        };
        let (answered, body) = loop {
            match api.expect("answer") {
                Report::Response { at, body } => break (at, body),
                Report::Error(e) => panic!("invocation error: {e}"),
                _ => {}
            }
        };
        // The relay counts a request's time before it hands the answer back, so by the time
        // the function has answered, its requests are all counted.
        let (dynamodb, requests) = relay.map_or((Duration::ZERO, 0), |r| {
            (r.forwarded_time() - waited, r.requests() - sent)
        });
        Invocation {
            elapsed: answered - delivered,
            dynamodb,
            requests,
            body,
        }
    }

    /// The time the function's own access log line says it spent in SDK calls (the wait
    /// for DynamoDB plus the SDK's signing and parsing), for the breakdown.
    fn logged_sdk_time(&self) -> Duration {
        loop {
            let line = self
                .logs
                .recv_timeout(Duration::from_secs(10))
                .expect("the function's request log line");
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if let Some(us) = v["fields"]["dynamodb_us"].as_u64() {
                return Duration::from_micros(us);
            }
        }
    }

    fn peak_rss_kib(&self) -> u64 {
        integration_tests::runtime_api::memory_kb(self.child.id(), "VmHWM").unwrap_or(0)
    }

    /// CPU time the process has had so far, to the nanosecond: the kernel's run time of
    /// each of its threads (/proc/PID/task/*/schedstat, first field), summed.
    fn cpu_time(&self) -> Duration {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id()));
        let nanos: u64 = tasks
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        Duration::from_nanos(nanos)
    }

    /// The CPU time once the function is idle again: when it asks for its next event.
    fn idle_cpu_time(&self, api: &RuntimeApi) -> Duration {
        loop {
            match api.expect("ask for its next event") {
                Report::Next(_) => return self.cpu_time(),
                Report::Error(e) => panic!("invocation error: {e}"),
                _ => {}
            }
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment Lambda gives a function, DynamoDB at `endpoint`.
pub fn function_env(table: &str, endpoint: &str) -> Vec<(String, String)> {
    [
        ("TABLE_NAME", table),
        // Lambda sets both; boto3 reads only the second.
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_SESSION_TOKEN", "bench"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Medians of cold starts. Wall: init (process start → first `/next`) and, with an event,
/// the cold request (init + the first invocation − DynamoDB's share), as Lambda bills
/// them. CPU: the process's CPU time at the same two points (it is idle, waiting on the
/// Runtime API, at both), which the budgets use: on this VM the wall-clock init of the
/// same binary moved between 1.8 and 4.2 ms from run to run, its CPU time does not.
#[derive(Default)]
pub struct Cold {
    pub init: Duration,
    pub request: Duration,
    pub init_cpu: Duration,
    pub request_cpu: Duration,
}

/// How to start one kind of function cold, and what to ask it first.
pub struct Starter<'a> {
    pub command: Box<dyn Fn() -> Command + 'a>,
    pub env: &'a [(String, String)],
    pub event: Option<&'a [u8]>,
    pub relay: Option<&'a FaultyEndpoint>,
}

/// `COLD_STARTS` rounds, each starting every kind once in turn, so that the kinds compared
/// share whatever the machine is doing meanwhile (the hello floor's median moved from 1.6
/// to 2.8 ms between two runs taken minutes apart).
pub fn cold_starts(starters: &[Starter<'_>]) -> Vec<Cold> {
    // Per kind: init, cold request, init CPU, cold request CPU.
    let mut samples = vec![[const { Vec::new() }; 4]; starters.len()];
    for _ in 0..COLD_STARTS {
        for (s, samples) in starters.iter().zip(&mut samples) {
            let api = RuntimeApi::start();
            let f = spawn(&mut (s.command)(), &api, s.env);
            let init = f.init_time(&api);
            samples[0].push(init);
            samples[2].push(f.cpu_time());
            if let Some(event) = s.event {
                let first = f.invoke(&api, event, s.relay);
                assert_status_200(&first.body);
                samples[1].push(init + first.cpu());
                samples[3].push(f.idle_cpu_time(&api));
            }
        }
    }
    let median_of = |v: &mut Vec<Duration>| {
        if v.is_empty() {
            Duration::ZERO
        } else {
            median(std::mem::take(v))
        }
    };
    samples
        .into_iter()
        .map(|mut s| Cold {
            init: median_of(&mut s[0]),
            request: median_of(&mut s[1]),
            init_cpu: median_of(&mut s[2]),
            request_cpu: median_of(&mut s[3]),
        })
        .collect()
}

fn assert_status_200(body: &[u8]) {
    let answer: serde_json::Value = serde_json::from_slice(body).expect("a JSON answer");
    assert_eq!(answer["statusCode"], 200, "unexpected answer: {answer}");
}

fn event_of(function: &str) -> Vec<u8> {
    serde_json::to_vec(&apigw::event("GET", warm_url(function))).unwrap()
}

/// Init, cold request and warm CPU of each function against the hello floor, peak memory,
/// and the memory-size model built from them. Returns each function's init.
pub fn init_and_warm(r: &mut Results, table: &str) -> BTreeMap<&'static str, Duration> {
    let relay = FaultyEndpoint::timing(&dynamodb().endpoint);
    let env = function_env(table, &relay.url);
    let bins: Vec<PathBuf> = std::iter::once(HELLO).chain(FUNCTIONS).map(bootstrap).collect();
    let events: Vec<Vec<u8>> = std::iter::once(FUNCTIONS[0])
        .chain(FUNCTIONS)
        .map(event_of)
        .collect();
    let starters: Vec<Starter<'_>> = bins
        .iter()
        .zip(&events)
        .enumerate()
        .map(|(i, (bin, event))| Starter {
            command: Box::new(move || Command::new(bin)),
            env: &env,
            event: Some(event.as_slice()),
            // The hello floor never calls DynamoDB.
            relay: (i > 0).then_some(&relay),
        })
        .collect();
    let mut colds = cold_starts(&starters).into_iter();
    let hello = colds.next().unwrap_or_default();
    r.add(
        INIT,
        format!("hello floor ({HELLO}): init / cold request (init + first invocation), medians of {COLD_STARTS}: wall / CPU"),
        format!(
            "{} / {}; CPU {} / {}",
            ms(hello.init),
            ms(hello.request),
            ms(hello.init_cpu),
            ms(hello.request_cpu)
        ),
    );
    let mut inits = BTreeMap::new();
    let mut measured = Vec::new();
    for ((function, bin), event) in FUNCTIONS.into_iter().zip(&bins[1..]).zip(&events[1..]) {
        let cold = colds.next().unwrap_or_default();
        inits.insert(function, cold.init);
        // CPU budgets as ratios to the hello floor; wall-clock beside, for the record.
        let mut against_hello = |what: String,
                                 (cpu, floor_cpu): (Duration, Duration),
                                 (wall, floor_wall): (Duration, Duration),
                                 limit: f64| {
            let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
            let cpu_ratio = ratio(cpu, floor_cpu);
            r.check(
                INIT,
                format!(
                    "{function}: {what}, median of {COLD_STARTS} (wall: {}, {:.2}× hello)",
                    ms(wall),
                    ratio(wall, floor_wall)
                ),
                format!("{} ({cpu_ratio:.2}× hello)", ms(cpu)),
                format!("≤ {limit}× hello"),
                cpu_ratio <= limit,
            );
        };
        against_hello(
            "init CPU".into(),
            (cold.init_cpu, hello.init_cpu),
            (cold.init, hello.init),
            1.5,
        );
        against_hello(
            "cold request CPU (init + first invocation; wall − DynamoDB)".into(),
            (cold.request_cpu, hello.request_cpu),
            (cold.request, hello.request),
            2.0,
        );

        let api = RuntimeApi::start();
        let f = spawn(&mut Command::new(bin), &api, &env);
        f.init_time(&api);
        let url = warm_url(function);
        let (mut cpu, mut handler, mut total, mut dynamodb) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut requests = 0;
        let process_cpu = f.cpu_time();
        for _ in 0..WARM_INVOCATIONS {
            let invocation = f.invoke(&api, event, Some(&relay));
            assert_status_200(&invocation.body);
            let sdk = f.logged_sdk_time();
            cpu.push(invocation.cpu());
            handler.push(invocation.elapsed.saturating_sub(sdk));
            total.push(invocation.elapsed);
            dynamodb.push(invocation.dynamodb);
            requests = requests.max(invocation.requests);
        }
        let process_cpu = (f.cpu_time() - process_cpu) / WARM_INVOCATIONS as u32;
        let cpu = median(cpu);
        r.check(
            WARM,
            format!("{function}: CPU per invocation, median of {WARM_INVOCATIONS} ({url})"),
            ms(cpu),
            "≤ 1 ms",
            cpu <= Duration::from_millis(1),
        );
        r.add(
            WARM,
            format!("{function}: breakdown — the process's user + system CPU time per invocation (/proc)"),
            ms(process_cpu),
        );
        r.add(
            WARM,
            format!("{function}: breakdown — handler alone (minus the time inside SDK calls, as the access log reports it)"),
            ms(median(handler)),
        );
        r.add(
            WARM,
            format!(
                "{function}: whole invocation against DynamoDB Local / DynamoDB's share at the relay, medians"
            ),
            format!("{} / {}", ms(median(total)), ms(median(dynamodb))),
        );
        let rss = f.peak_rss_kib();
        r.check(
            MEMORY,
            format!("{function}: peak RSS (VmHWM) after {WARM_INVOCATIONS} invocations"),
            format!("{:.1} MB", rss as f64 / 1024.0),
            "≤ 32 MB",
            rss > 0 && rss <= 32 * 1024,
        );
        measured.push(Measured {
            function,
            cpu,
            cold: cold.request,
            round_trips: requests,
        });
    }
    model::memory_sizes(r, &measured);
    inits
}

/// Node.js and Python functions doing the same init (SDK client constructed), for scale.
pub fn comparisons(r: &mut Results, inits: &BTreeMap<&'static str, Duration>, table: &str) {
    let env = function_env(table, &dynamodb().endpoint);
    let root = workspace_root();
    let node_modules = root.join(".tools/node/node_modules");
    let node_script = root.join("bench/runtimes/node/index.js");
    let python = root.join(".tools/venv/bin/python");
    let python_script = root.join("bench/runtimes/python/bootstrap.py");
    let mut node_env = env.clone();
    node_env.push(("NODE_MODULES_DIR".into(), node_modules.display().to_string()));
    let runtimes = cold_starts(&[
        Starter {
            command: Box::new(|| {
                let mut c = Command::new("node");
                c.arg(&node_script);
                c
            }),
            env: &node_env,
            event: None,
            relay: None,
        },
        Starter {
            command: Box::new(|| {
                let mut c = Command::new(&python);
                c.arg(&python_script);
                c
            }),
            env: &env,
            event: None,
            relay: None,
        },
    ]);
    let (node, python) = match runtimes.as_slice() {
        [node, python] => (node.init, python.init),
        _ => unreachable!("two runtimes started"),
    };
    let rust = inits.values().copied().max().unwrap_or_default();
    r.add(
        OTHER_RUNTIMES,
        "Node.js 20 + @aws-sdk/client-dynamodb (client constructed): init, median",
        ms(node),
    );
    r.add(
        OTHER_RUNTIMES,
        "Python 3.11 + boto3 (client constructed): init, median",
        ms(python),
    );
    r.add(
        OTHER_RUNTIMES,
        "ratio Node.js / Rust init (slower Rust function)",
        format!("{:.0}×", node.as_secs_f64() / rust.as_secs_f64()),
    );
    r.add(
        OTHER_RUNTIMES,
        "ratio Python / Rust init (slower Rust function)",
        format!("{:.0}×", python.as_secs_f64() / rust.as_secs_f64()),
    );
}
