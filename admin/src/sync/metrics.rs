//! The sync's CloudWatch metrics (`--metrics-namespace`), what the stack's `SyncMonitoring`
//! alarms read: per round, `SyncLagSeconds` (how far behind MySQL the round left the table;
//! 0 when it had nothing to write), `SyncRowsApplied` (messages and conversations written;
//! 0 when idle, so its sample count is the heartbeat) and `SyncQuarantined` (conversations
//! set aside), each with the dimension `TableName`.
//!
//! Each round's three metrics go out in one PutMetricData call, each as a statistic set
//! (sample count, sum, minimum, maximum). Rounds run every 2 s while CloudWatch keeps
//! one-minute periods at best for such metrics, so `--metrics-every` (up to 60 s) gathers
//! the rounds of that span into one call instead, every round still counted
//! (docs/performance.md prices both).
//!
//! Publishing never stops or slows the sync: calls run beside the rounds, one at a time; a
//! failed call is printed once, its data kept (up to `MAX_HELD` periods, oldest dropped
//! first) and sent with the next call.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_cloudwatch::error::DisplayErrorContext;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StatisticSet};
use jiff::Timestamp;

pub const LAG: &str = "SyncLagSeconds";
pub const ROWS_APPLIED: &str = "SyncRowsApplied";
pub const QUARANTINED: &str = "SyncQuarantined";
pub const DIMENSION: &str = "TableName";

/// Periods held while CloudWatch refuses them: 3 data points each, within PutMetricData's
/// 1,000 a call.
const MAX_HELD: usize = 300;
const _: () = assert!(MAX_HELD * 3 <= 1000);
/// One publish may take this long, retries included (it runs beside the rounds).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the metrics go (`--metrics-namespace`), and how often.
#[derive(Debug, Clone)]
pub struct Target {
    pub client: aws_sdk_cloudwatch::Client,
    pub namespace: String,
    /// Rounds are gathered this long into one call; zero: a call per round.
    pub every: Duration,
}

impl Target {
    /// A client from the SDK configuration (`AWS_ENDPOINT_URL_CLOUDWATCH` overrides its
    /// endpoint), with few attempts: the next period retries anyway.
    pub fn new(config: &SdkConfig, namespace: String, every: Duration) -> Target {
        let conf = aws_sdk_cloudwatch::config::Builder::from(config)
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_timeout(PUBLISH_TIMEOUT)
                    .build(),
            )
            .build();
        Target {
            client: aws_sdk_cloudwatch::Client::from_conf(conf),
            namespace,
            every,
        }
    }
}

/// What one round reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundFigures {
    pub lag_seconds: f64,
    pub rows_applied: u64,
    pub quarantined: usize,
}

/// Sample count, sum, minimum and maximum of one metric over a period's rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    count: f64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Stat {
    fn of(value: f64) -> Stat {
        Stat {
            count: 1.0,
            sum: value,
            min: value,
            max: value,
        }
    }

    fn add(&mut self, value: f64) {
        self.count += 1.0;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    fn set(&self) -> StatisticSet {
        StatisticSet::builder()
            .sample_count(self.count)
            .sum(self.sum)
            .minimum(self.min)
            .maximum(self.max)
            .build()
    }
}

/// The rounds of one period.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Period {
    /// The end of its last round: the data points' time.
    at: Timestamp,
    lag: Stat,
    rows: Stat,
    quarantined: Stat,
}

impl Period {
    fn of(figures: RoundFigures, at: Timestamp) -> Period {
        Period {
            at,
            lag: Stat::of(figures.lag_seconds),
            rows: Stat::of(figures.rows_applied as f64),
            quarantined: Stat::of(figures.quarantined as f64),
        }
    }

    fn add(&mut self, figures: RoundFigures, at: Timestamp) {
        self.at = at;
        self.lag.add(figures.lag_seconds);
        self.rows.add(figures.rows_applied as f64);
        self.quarantined.add(figures.quarantined as f64);
    }

    fn data(&self, table: &str) -> [MetricDatum; 3] {
        let at =
            DateTime::from_secs_and_nanos(self.at.as_second(), self.at.subsec_nanosecond().unsigned_abs());
        let datum = |name: &str, stat: &Stat, unit: StandardUnit| {
            MetricDatum::builder()
                .metric_name(name)
                .dimensions(Dimension::builder().name(DIMENSION).value(table).build())
                .timestamp(at)
                .statistic_values(stat.set())
                .unit(unit)
                .build()
        };
        [
            datum(LAG, &self.lag, StandardUnit::Seconds),
            datum(ROWS_APPLIED, &self.rows, StandardUnit::Count),
            datum(QUARANTINED, &self.quarantined, StandardUnit::Count),
        ]
    }
}

/// A call on its way, with the periods it carries (held again if it fails).
struct InFlight {
    call: tokio::task::JoinHandle<Result<(), String>>,
    periods: Vec<Period>,
}

/// The sync's publisher: gathers rounds, publishes when a period is due. Calls run beside
/// the rounds (a slow or unreachable CloudWatch never delays one); one at a time.
pub struct Metrics {
    target: Target,
    table: String,
    current: Option<Period>,
    /// Periods not sent yet (a failed call's among them), oldest first.
    held: VecDeque<Period>,
    in_flight: Option<InFlight>,
    /// The last call started (or the start): a period is due `every` after it.
    last: Instant,
    /// The last call failed (its failure was printed).
    failing: bool,
    /// Periods dropped since the last line said so.
    dropped: usize,
}

impl Metrics {
    pub fn new(target: Target, table: &str) -> Metrics {
        Metrics {
            target,
            table: table.to_string(),
            current: None,
            held: VecDeque::new(),
            in_flight: None,
            last: Instant::now(),
            failing: false,
            dropped: 0,
        }
    }

    pub fn record(&mut self, figures: RoundFigures, at: Timestamp) {
        match &mut self.current {
            Some(period) => period.add(figures, at),
            None => self.current = Some(Period::of(figures, at)),
        }
    }

    /// Takes the answer of a call that has ended, and starts a call when a period is due
    /// and none is on its way. Never waits for CloudWatch. A line for the sync's output when
    /// publishing starts failing or works again.
    pub async fn publish_if_due(&mut self) -> Option<String> {
        let ended = self.in_flight.as_ref().is_some_and(|f| f.call.is_finished());
        let line = if ended { self.answer().await } else { None };
        if self.in_flight.is_none() && self.last.elapsed() >= self.target.every {
            self.start();
        }
        line
    }

    /// Publishes everything gathered and held, waiting for the answer (the end of a run).
    pub async fn publish(&mut self) -> Option<String> {
        let earlier = self.answer().await;
        self.start();
        self.answer().await.or(earlier)
    }

    /// Starts a call with the current period and every held one.
    fn start(&mut self) {
        self.last = Instant::now();
        if let Some(period) = self.current.take() {
            self.held.push_back(period);
        }
        while self.held.len() > MAX_HELD {
            self.held.pop_front();
            self.dropped += 1;
        }
        if self.held.is_empty() {
            return;
        }
        let periods: Vec<Period> = self.held.drain(..).collect();
        let data: Vec<MetricDatum> = periods.iter().flat_map(|p| p.data(&self.table)).collect();
        let call = self
            .target
            .client
            .put_metric_data()
            .namespace(&self.target.namespace)
            .set_metric_data(Some(data));
        let call = tokio::spawn(async move {
            call.send()
                .await
                .map(drop)
                .map_err(|e| DisplayErrorContext(&e).to_string())
        });
        self.in_flight = Some(InFlight { call, periods });
    }

    /// Waits for the call on its way, if any: its periods are done, or held again.
    async fn answer(&mut self) -> Option<String> {
        let InFlight { call, periods } = self.in_flight.take()?;
        let result = call.await.unwrap_or_else(|e| Err(e.to_string()));
        match result {
            Ok(()) => {
                let line = (self.failing || self.dropped > 0).then(|| {
                    format!(
                        "metrics: published to CloudWatch again ({} periods held sent, {} dropped)",
                        periods.len(),
                        self.dropped
                    )
                });
                self.failing = false;
                self.dropped = 0;
                line
            }
            Err(error) => {
                for period in periods.into_iter().rev() {
                    self.held.push_front(period);
                }
                let first = !self.failing;
                self.failing = true;
                first.then(|| {
                    format!(
                        "metrics: not published to CloudWatch namespace {}: {error}; kept for the next try \
                         (the sync goes on)",
                        self.target.namespace
                    )
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(lag_seconds: f64, rows_applied: u64, quarantined: usize) -> RoundFigures {
        RoundFigures {
            lag_seconds,
            rows_applied,
            quarantined,
        }
    }

    #[test]
    fn a_periods_rounds_make_one_statistic_set_per_metric() {
        let t0 = Timestamp::from_second(1_700_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let t1 = Timestamp::from_second(1_700_000_002).unwrap_or(Timestamp::UNIX_EPOCH);
        let mut period = Period::of(figures(3.0, 10, 0), t0);
        period.add(figures(0.0, 0, 1), t1);
        let [lag, rows, quarantined] = period.data("t");
        for (datum, name, (count, sum, min, max)) in [
            (&lag, LAG, (2.0, 3.0, 0.0, 3.0)),
            (&rows, ROWS_APPLIED, (2.0, 10.0, 0.0, 10.0)),
            (&quarantined, QUARANTINED, (2.0, 1.0, 0.0, 1.0)),
        ] {
            assert_eq!(datum.metric_name(), Some(name));
            let set = datum.statistic_values();
            assert_eq!(set.and_then(StatisticSet::sample_count), Some(count), "{name}");
            assert_eq!(set.and_then(StatisticSet::sum), Some(sum), "{name}");
            assert_eq!(set.and_then(StatisticSet::minimum), Some(min), "{name}");
            assert_eq!(set.and_then(StatisticSet::maximum), Some(max), "{name}");
            assert_eq!(
                datum.timestamp(),
                Some(&DateTime::from_secs(1_700_000_002)),
                "{name}"
            );
            let dimensions = datum.dimensions();
            assert_eq!(dimensions.len(), 1);
            assert_eq!(dimensions.first().and_then(Dimension::name), Some(DIMENSION));
            assert_eq!(dimensions.first().and_then(Dimension::value), Some("t"));
        }
        assert_eq!(lag.unit(), Some(&StandardUnit::Seconds));
        assert_eq!(rows.unit(), Some(&StandardUnit::Count));
    }
}
