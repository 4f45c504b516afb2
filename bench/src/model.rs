//! The memory size, chosen by a model rather than by habit: Lambda gives a function CPU in
//! proportion to its memory (one full vCPU at 1,769 MB), so the CPU measured here per
//! invocation stretches by 1,769 / M at M MB, while the wait for DynamoDB does not. As the
//! AWS Lambda Power Tuning tool compares settings: duration at each size, billed per
//! started millisecond, priced at arm64's list price.

use std::time::Duration;

use crate::Results;

/// Memory at which a function has one full vCPU.
const FULL_VCPU_MB: f64 = 1769.0;
/// One DynamoDB round trip in-region (DynamoDB Local here answers on this machine).
pub const ROUND_TRIP_MS: f64 = 4.0;
/// Lambda arm64, us-east-1: per GB-second and per request.
const GB_SECOND_USD: f64 = 0.000_013_333_4;
const REQUEST_USD: f64 = 0.000_000_2;
pub const SIZES_MB: [u32; 4] = [128, 256, 512, 1024];

const SECTION: &str = "Memory size: modelled duration and Lambda cost per million requests (arm64)";

/// What the model needs of one function, measured.
pub struct Measured {
    pub function: &'static str,
    /// Warm CPU per invocation on this machine (one core counts as one vCPU).
    pub cpu: Duration,
    /// Init + first invocation, DynamoDB's wait excluded.
    pub cold: Duration,
    /// DynamoDB round trips of the timed request.
    pub round_trips: usize,
}

/// Modelled duration in ms of `cpu` plus `round_trips` waits at `memory_mb`.
pub fn duration_ms(cpu: Duration, round_trips: usize, memory_mb: u32) -> f64 {
    let stretch = (FULL_VCPU_MB / f64::from(memory_mb)).max(1.0);
    cpu.as_secs_f64() * 1000.0 * stretch + round_trips as f64 * ROUND_TRIP_MS
}

/// Lambda's price of a million such invocations: duration billed per started ms, plus the
/// request fee.
pub fn cost_per_million(duration_ms: f64, memory_mb: u32) -> f64 {
    let billed_s = duration_ms.ceil() / 1000.0;
    1e6 * (billed_s * f64::from(memory_mb) / 1024.0 * GB_SECOND_USD + REQUEST_USD)
}

pub fn memory_sizes(r: &mut Results, measured: &[Measured]) {
    for m in measured {
        for size in SIZES_MB {
            let warm = duration_ms(m.cpu, m.round_trips, size);
            let cold = duration_ms(m.cold, m.round_trips, size);
            r.add(
                SECTION,
                format!("{}: {size} MB", m.function),
                format!(
                    "warm {warm:.1} ms, ${:.3} per million; cold request {cold:.0} ms",
                    cost_per_million(warm, size)
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_stretches_with_less_memory_and_waits_do_not() {
        let cpu = Duration::from_millis(1);
        assert!((duration_ms(cpu, 0, 1769) - 1.0).abs() < 1e-9);
        assert!(
            (duration_ms(cpu, 0, 3538) - 1.0).abs() < 1e-9,
            "no more than one vCPU helps"
        );
        assert!((duration_ms(cpu, 1, 128) - (1769.0 / 128.0 + 4.0)).abs() < 1e-9);
    }

    #[test]
    fn cost_bills_started_milliseconds_and_the_request() {
        // 1 ms at 1024 MB: 0.001 GB-s per request.
        let usd = cost_per_million(0.2, 1024);
        assert!((usd - (1e6 * (0.001 * GB_SECOND_USD) + 0.2)).abs() < 1e-9);
        assert!(cost_per_million(1.01, 128) > cost_per_million(1.0, 128));
    }
}
