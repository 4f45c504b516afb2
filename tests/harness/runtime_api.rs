//! A minimal local Lambda Runtime API (the endpoints a function's runtime loop calls), so
//! the real `bootstrap` binaries — and, in the benchmark, the Node.js and Python
//! comparisons — run as Lambda runs them, with every moment of their life visible to the
//! benchmark and the tests.

use std::io::{BufRead, BufReader, Write};

use crate::http1::{read_message, request_line};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the function told the Runtime API.
#[derive(Debug)]
pub enum Report {
    /// The function asked for its next event (the first one marks the end of init).
    Next(Instant),
    /// An event was handed to the function.
    Delivered(Instant),
    /// The function answered an event.
    Response { at: Instant, body: Vec<u8> },
    /// The function reported an init or invocation error.
    Error(String),
}

pub struct RuntimeApi {
    pub address: String,
    events: Sender<Vec<u8>>,
    pub reports: Receiver<Report>,
}

impl RuntimeApi {
    pub fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the Runtime API");
        let address = listener.local_addr().unwrap().to_string();
        let (events_tx, events_rx) = channel::<Vec<u8>>();
        let (reports_tx, reports_rx) = channel::<Report>();
        let events_rx = Arc::new(Mutex::new(events_rx));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let events = Arc::clone(&events_rx);
                let reports = reports_tx.clone();
                std::thread::spawn(move || serve(conn, &events, &reports));
            }
        });
        RuntimeApi {
            address,
            events: events_tx,
            reports: reports_rx,
        }
    }

    /// Queues an event; the function receives it on its next `/invocation/next`.
    pub fn send(&self, event: Vec<u8>) {
        self.events.send(event).expect("runtime API thread");
    }

    /// The next report, or a panic naming what did not happen in time.
    pub fn expect(&self, what: &str) -> Report {
        self.reports
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the function did not {what} within 60 s"))
    }
}

fn serve(conn: TcpStream, events: &Arc<Mutex<Receiver<Vec<u8>>>>, reports: &Sender<Report>) {
    // Without it, Nagle's algorithm and the peer's delayed ACK add ~40 ms to exchanges
    // written in more than one segment, which would be measured as the function's time.
    let _ = conn.set_nodelay(true);
    let mut writer = conn.try_clone().expect("clone the connection");
    let mut reader = BufReader::new(conn);
    let mut request_id = 0u64;
    loop {
        let Some((head, body)) = read_message(&mut reader) else {
            return;
        };
        let (method, path) = request_line(&head);
        let ok = if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let _ = reports.send(Report::Next(Instant::now()));
            let Ok(event) = events.lock().unwrap().recv() else {
                return;
            };
            request_id += 1;
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 10_000;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Lambda-Runtime-Aws-Request-Id: bench-{request_id}\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1\r\n\r\n",
                event.len()
            );
            let sent = writer
                .write_all(head.as_bytes())
                .and_then(|()| writer.write_all(&event))
                .is_ok();
            let _ = reports.send(Report::Delivered(Instant::now()));
            sent
        } else {
            if path.ends_with("/response") {
                let _ = reports.send(Report::Response {
                    at: Instant::now(),
                    body,
                });
            } else if path.ends_with("/error") {
                let _ = reports.send(Report::Error(String::from_utf8_lossy(&body).into_owned()));
            }
            writer
                .write_all(
                    b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                )
                .is_ok()
        };
        if !ok {
            return;
        }
    }
}

/// A real function binary (`bootstrap`) running against its own local Runtime API, with
/// its log lines (stdout) collected.
pub struct Bootstrap {
    pub api: RuntimeApi,
    child: std::process::Child,
    logs: Receiver<String>,
}

impl Bootstrap {
    /// Starts `bin` with the Lambda environment plus `env`, and waits for its first
    /// `/invocation/next` (init done). Logs are JSON at INFO, as the template configures.
    pub fn start(bin: &std::path::Path, env: &[(&str, &str)]) -> Bootstrap {
        use std::process::{Command, Stdio};
        let api = RuntimeApi::start();
        let mut child = Command::new(bin)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, logs) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        loop {
            match api.expect("ask for its first event") {
                Report::Next(_) => break,
                Report::Error(e) => panic!("init error: {e}"),
                _ => {}
            }
        }
        Bootstrap { api, child, logs }
    }

    /// One invocation: the function's response document, or the error it reported to
    /// the Runtime API (what Lambda turns into a 5xx at API Gateway).
    pub fn invoke(&self, event: &[u8]) -> Result<serde_json::Value, String> {
        self.api.send(event.to_vec());
        loop {
            match self.api.expect("answer the event") {
                Report::Response { body, .. } => {
                    return serde_json::from_slice(&body).map_err(|e| format!("response is not JSON: {e}"));
                }
                Report::Error(e) => return Err(e),
                _ => {}
            }
        }
    }

    /// Every log line written so far.
    pub fn drain_logs(&self) -> Vec<String> {
        self.logs.try_iter().collect()
    }

    /// The log lines, waiting for more until `done` holds of them (the reader of the
    /// process's output may lag behind the answers already received) or `within` passes.
    pub fn logs_until(&self, done: impl Fn(&[String]) -> bool, within: std::time::Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + within;
        let mut logs: Vec<String> = self.logs.try_iter().collect();
        while !done(&logs) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.logs.recv_timeout(left) {
                Ok(line) => logs.push(line),
                Err(_) => break,
            }
        }
        logs
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Bootstrap {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A memory figure of a process from /proc, in kB: `VmRSS` (now) or `VmHWM` (peak).
pub fn memory_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
