//! `make load`: a bounded load test of the local stack, end to end.
//!
//! The stack: DynamoDB Local as DynamoDB with the demo data, the real release `bootstrap` of each
//! function (`LOAD_INSTANCES` of each, as Lambda scales out) behind local Runtime APIs,
//! and a small local gateway turning HTTP requests into API Gateway 2.0 events for them.
//! (`cargo lambda watch` drops about 1% of requests under load, which would hide the
//! functions' own errors.) `oha` then sends `LOAD_CLIENTS` concurrent clients for
//! `LOAD_SECONDS` over a mix of both endpoints and their legacy paths.
//!
//! Reports throughput, p50/p99 latency and errors (transport errors or any answer other
//! than 200: every request of the mix is valid), and each function process's resident
//! memory after warm-up and at the end. Exits non-zero on any error or on memory that
//! grows by more than 1 MB over the run.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use integration_tests::apigw::{Function, event};
use integration_tests::http1::{read_message, request_line};
use integration_tests::runtime_api::{Bootstrap, memory_kb};
use integration_tests::{dynamodb, seeded_app, workspace_root};
use serde_json::Value;

/// An event for a function, and where its response goes.
type Job = (Vec<u8>, Sender<Result<Value, String>>);

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a whole number, got {v:?}"))
        })
        .unwrap_or(default)
}

/// `instances` processes of one function, each taking the next job when it is free.
struct Pool {
    jobs: Sender<Job>,
    pids: Vec<u32>,
}

/// Per invocation, from the function's own access log line: (total, DynamoDB's share), µs.
type Timings = Arc<Mutex<Vec<(u64, u64)>>>;

fn pool(function: &str, instances: u64, env: &[(&str, &str)], timings: &Timings) -> Pool {
    let bin: PathBuf = workspace_root()
        .join("target/lambda")
        .join(function)
        .join("bootstrap");
    assert!(
        bin.exists(),
        "{} not found: `make load` builds it with cargo lambda build --release",
        bin.display()
    );
    let (jobs, queue) = channel::<Job>();
    let queue: Arc<Mutex<Receiver<Job>>> = Arc::new(Mutex::new(queue));
    let mut pids = Vec::new();
    for _ in 0..instances {
        let function = Bootstrap::start(&bin, env);
        pids.push(function.pid());
        let queue = Arc::clone(&queue);
        let timings = Arc::clone(timings);
        std::thread::spawn(move || {
            loop {
                let job = queue.lock().unwrap().recv();
                let Ok((event, reply)) = job else { return };
                let _ = reply.send(function.invoke(&event));
                for line in function.drain_logs() {
                    let Ok(v) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    let f = &v["fields"];
                    if let (Some(total), Some(dynamodb)) =
                        (f["latency_us"].as_u64(), f["dynamodb_us"].as_u64())
                    {
                        timings.lock().unwrap().push((total, dynamodb));
                    }
                }
            }
        });
    }
    Pool { jobs, pids }
}

/// One client connection of the gateway: HTTP/1.1 requests in, API Gateway events to the
/// function of each route, responses back.
fn serve(conn: TcpStream, conversations: Sender<Job>, messages: Sender<Job>) {
    let _ = conn.set_nodelay(true);
    let mut writer = conn.try_clone().expect("clone the connection");
    let mut reader = BufReader::new(conn);
    while let Some((head, _)) = read_message(&mut reader) {
        let (method, target) = request_line(&head);
        let path = target.split('?').next().unwrap_or_default();
        let queue = match Function::of(path) {
            Function::GetConversations => &conversations,
            Function::GetConversationMessages => &messages,
        };
        let (tx, rx) = channel();
        queue
            .send((event(method, target).to_string().into_bytes(), tx))
            .expect("function pool");
        let (status, headers, body) = match rx.recv().expect("function answer") {
            Ok(response) => {
                let status = response["statusCode"].as_u64().unwrap_or(502);
                let headers: Vec<(String, String)> = response["headers"]
                    .as_object()
                    .map(|h| {
                        h.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                (
                    status,
                    headers,
                    response["body"].as_str().unwrap_or_default().to_string(),
                )
            }
            // An invocation error: API Gateway answers 502 then.
            Err(e) => (502, Vec::new(), format!("{{\"message\":{e:?}}}")),
        };
        let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(body.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}

fn memory(pools: &[(&str, &Pool)], field: &str) -> Vec<(String, u64)> {
    pools
        .iter()
        .flat_map(|(name, pool)| {
            pool.pids
                .iter()
                .enumerate()
                .map(move |(i, pid)| (format!("{name}#{i}"), memory_kb(*pid, field).unwrap_or(0)))
        })
        .collect()
}

fn main() -> ExitCode {
    let clients = setting("LOAD_CLIENTS", 16);
    let seconds = setting("LOAD_SECONDS", 30);
    let instances = setting("LOAD_INSTANCES", 2);
    let oha = workspace_root().join(".tools/cargo/bin/oha");
    assert!(
        oha.exists(),
        "{} not found: `make load` installs it",
        oha.display()
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(seeded_app("load", &[]));
    let env = [
        ("TABLE_NAME", app.store.table_name()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb().endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let timings: Timings = Arc::default();
    let conversations = pool("get-conversations", instances, &env, &timings);
    let messages = pool("get-conversation-messages", instances, &env, &timings);

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the gateway");
    let base = format!("http://{}", listener.local_addr().unwrap());
    {
        let (c, m) = (conversations.jobs.clone(), messages.jobs.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let (c, m) = (c.clone(), m.clone());
                std::thread::spawn(move || serve(conn, c, m));
            }
        });
    }
    // Both endpoints, new and legacy paths, every status filter, conversations 1–37.
    let mix = format!(
        r"{base}/api/(conversations(\?status=(active|pending_human|closed))?|get-conversations\.php|conversations/([1-9]|[12][0-9]|3[0-7])/messages|get-conversation-messages\.php\?id=([1-9]|[12][0-9]|3[0-7])&offset=[0-9]&limit=20)"
    );
    let run = |duration: &str, clients: u64| {
        let out = Command::new(&oha)
            // In-flight requests at the deadline are waited for, not counted as errors.
            .args([
                "--no-tui",
                "--output-format",
                "json",
                "--wait-ongoing-requests-after-deadline",
            ])
            .args(["-z", duration, "-c"])
            .arg(clients.to_string())
            .args(["--rand-regex-url", &mix])
            .output()
            .expect("run oha");
        assert!(
            out.status.success(),
            "oha failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("oha's JSON report")
    };
    let pools = [
        ("get-conversations", &conversations),
        ("get-conversation-messages", &messages),
    ];
    eprintln!("warming up …");
    run("3s", clients);
    timings.lock().unwrap().clear();
    let before = memory(&pools, "VmRSS");
    eprintln!("{clients} clients for {seconds} s against {base} …");
    let report = run(&format!("{seconds}s"), clients);
    let after = memory(&pools, "VmRSS");
    let peak = memory(&pools, "VmHWM");

    let summary = &report["summary"];
    let total: u64 = report["statusCodeDistribution"]
        .as_object()
        .map(|d| d.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    let ok = report["statusCodeDistribution"]["200"].as_u64().unwrap_or(0);
    let transport: u64 = report["errorDistribution"]
        .as_object()
        .map(|d| d.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    let errors = total - ok + transport;
    let ms = |p: &str| report["latencyPercentiles"][p].as_f64().unwrap_or(f64::NAN) * 1000.0;
    println!(
        "make load: {clients} clients, {seconds} s, {instances} instances of each function, DynamoDB Local as DynamoDB"
    );
    println!(
        "  requests: {total} ({:.0} req/s), p50 {:.2} ms, p99 {:.2} ms, slowest {:.2} ms",
        summary["requestsPerSec"].as_f64().unwrap_or(0.0),
        ms("p50"),
        ms("p99"),
        summary["slowest"].as_f64().unwrap_or(f64::NAN) * 1000.0
    );
    println!(
        "  errors: {errors} (status codes {}, transport errors {})",
        report["statusCodeDistribution"], report["errorDistribution"]
    );
    let mut own: Vec<u64> = timings
        .lock()
        .unwrap()
        .iter()
        .map(|(t, d)| t.saturating_sub(*d))
        .collect();
    let mut whole: Vec<u64> = timings.lock().unwrap().iter().map(|(t, _)| *t).collect();
    own.sort_unstable();
    whole.sort_unstable();
    let pct = |v: &[u64], p: f64| {
        v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
            .map_or(f64::NAN, |us| *us as f64 / 1000.0)
    };
    println!(
        "  inside the functions ({} invocations, from their access logs): p50 {:.2} ms, p99 {:.2} ms; \
         without DynamoDB's share: p50 {:.3} ms, p99 {:.3} ms",
        whole.len(),
        pct(&whole, 0.50),
        pct(&whole, 0.99),
        pct(&own, 0.50),
        pct(&own, 0.99)
    );
    let mut grew = false;
    for (((name, b), (_, a)), (_, p)) in before.iter().zip(&after).zip(&peak) {
        println!("  {name}: RSS {b} kB after warm-up, {a} kB at the end, peak {p} kB");
        grew |= *a > b + 1024;
    }
    // The function processes live in their pool threads; stop them before exiting (they
    // would otherwise report the vanished Runtime API on stderr).
    let pids: Vec<String> = pools
        .iter()
        .flat_map(|(_, p)| p.pids.iter().map(u32::to_string))
        .collect();
    let _ = Command::new("kill").args(&pids).status();
    if total == 0 || errors > 0 || grew {
        println!(
            "FAILED: {errors} errors{}",
            if grew { ", memory grew" } else { "" }
        );
        return ExitCode::FAILURE;
    }
    println!("zero errors; memory flat");
    ExitCode::SUCCESS
}
