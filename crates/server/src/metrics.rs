//! Prometheus metrics (DESIGN §10): what an operator scrapes at `/metrics`.
//!
//! The families are filled in two places only: the request middleware
//! ([`crate::http::observe`]) for HTTP traffic, and the core's
//! [`Observer`] port for outcomes only the core sees (tokens issued by
//! grant, refresh-token reuse, sign-ins). Store failures and process
//! figures are read at scrape time.
//!
//! Each [`Metrics`] owns its registry rather than using a global one, so
//! several servers in one process (the integration tests) count apart.
//! Labels are bounded: `route` is the route pattern (or `unmatched`),
//! never a raw path; `method` is one of the standard methods or `other`.

use std::fmt;

use gatehouse_core::ErrorCode;
use gatehouse_core::model::GrantType;
use gatehouse_core::observe::{Observer, SignInResult};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of [`Metrics::render`]: the Prometheus text format.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// An HTTP method as a bounded label: the standard ones, else `other`.
fn method_label(m: &actix_web::http::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Request {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Route {
    route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Grant {
    grant_type: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Error {
    error: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Outcome {
    result: &'static str,
}

/// Request durations, in seconds: from half a millisecond (a cached
/// token check) to five seconds (a queue of password hashes).
const BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Every metric family, and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    requests: Family<Request, Counter>,
    durations: Family<Route, Histogram, fn() -> Histogram>,
    tokens_issued: Family<Grant, Counter>,
    token_errors: Family<Error, Counter>,
    refresh_reuse: Counter,
    sign_ins: Family<Outcome, Counter>,
    audit_dropped: Counter,
    audit_failed: Counter,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every family registered, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Request, Counter>::default();
        registry.register(
            "gatehouse_http_requests",
            "HTTP requests answered, by route pattern, method and status",
            requests.clone(),
        );
        let durations =
            Family::<Route, Histogram, fn() -> Histogram>::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "gatehouse_http_request_duration",
            "Time from receiving a request to having its response, by route pattern",
            Unit::Seconds,
            durations.clone(),
        );
        let tokens_issued = Family::<Grant, Counter>::default();
        registry.register(
            "gatehouse_tokens_issued",
            "Access tokens issued at the token endpoint, by grant type",
            tokens_issued.clone(),
        );
        let token_errors = Family::<Error, Counter>::default();
        registry.register(
            "gatehouse_token_errors",
            "Error responses of the token endpoint, by OAuth error code",
            token_errors.clone(),
        );
        let refresh_reuse = Counter::default();
        registry.register(
            "gatehouse_refresh_reuse_detected",
            "Rotated refresh tokens presented again; each revoked its whole family",
            refresh_reuse.clone(),
        );
        let sign_ins = Family::<Outcome, Counter>::default();
        registry.register(
            "gatehouse_sign_ins",
            "Password sign-ins, by result: succeeded, failed, or throttled before the check",
            sign_ins.clone(),
        );
        let audit_dropped = Counter::default();
        registry.register(
            "gatehouse_audit_dropped",
            "Audit events dropped because the queue to the store was full (they were still logged)",
            audit_dropped.clone(),
        );
        let audit_failed = Counter::default();
        registry.register(
            "gatehouse_audit_write_failures",
            "Audit events the store refused to append (they were still logged)",
            audit_failed.clone(),
        );
        registry.register_collector(Box::new(StoreErrors));
        registry.register_collector(Box::new(Process));
        Self {
            registry,
            requests,
            durations,
            tokens_issued,
            token_errors,
            refresh_reuse,
            sign_ins,
            audit_dropped,
            audit_failed,
        }
    }

    /// Counts one audit event dropped at a full queue.
    pub fn audit_dropped(&self) {
        self.audit_dropped.inc();
    }

    /// Counts audit events a store write failed to append.
    pub fn audit_failed(&self, events: usize) {
        self.audit_failed.inc_by(events as u64);
    }

    /// Counts one answered request.
    pub fn request(
        &self,
        route: &str,
        method: &actix_web::http::Method,
        status: u16,
        seconds: f64,
    ) {
        self.requests
            .get_or_create(&Request {
                route: route.to_owned(),
                method: method_label(method),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&Route {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts one error answer of the token endpoint.
    pub fn token_error(&self, code: ErrorCode) {
        self.token_errors
            .get_or_create(&Error {
                error: code.as_str(),
            })
            .inc();
    }

    /// Every family in the Prometheus text format (version 0.0.4).
    ///
    /// # Errors
    /// Only if formatting into a `String` fails, which it does not.
    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut out = String::with_capacity(8 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Observer for Metrics {
    fn token_issued(&self, grant: GrantType) {
        self.tokens_issued
            .get_or_create(&Grant {
                grant_type: grant.as_str(),
            })
            .inc();
    }

    fn refresh_reuse_detected(&self) {
        self.refresh_reuse.inc();
    }

    fn sign_in(&self, result: SignInResult) {
        self.sign_ins
            .get_or_create(&Outcome {
                result: result.as_str(),
            })
            .inc();
    }
}

/// `gatehouse_store_errors_total`, read from the core's process-wide count.
#[derive(Debug)]
struct StoreErrors;

impl Collector for StoreErrors {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let counter = ConstCounter::new(gatehouse_core::observe::store_errors());
        let metric = encoder.encode_descriptor(
            "gatehouse_store_errors",
            "Unexpected store failures (connection, query, corrupt row) since the process started.",
            None,
            counter.metric_type(),
        )?;
        counter.encode(metric)
    }
}

/// The standard `process_*` metrics, read from `/proc/self` at scrape time
/// (Linux; elsewhere none are reported).
#[derive(Debug)]
struct Process;

/// What `/proc/self` says about this process.
#[derive(Debug, Default, PartialEq)]
struct ProcessStats {
    cpu_seconds: f64,
    start_time_seconds: f64,
    virtual_bytes: u64,
    resident_bytes: u64,
    threads: u64,
    open_fds: u64,
    max_fds: u64,
}

/// Clock ticks per second and page size as Linux reports them to every
/// x86-64 and aarch64 process (`getconf CLK_TCK`, `getconf PAGESIZE`); the
/// exact values need libc, which this crate does not otherwise need.
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE_SIZE: u64 = 4096;

/// Parses `/proc/self/stat` (after the command name, which may hold
/// spaces and parentheses) with the boot time from `/proc/stat`.
fn parse_stat(stat: &str, boot_time: u64) -> Option<ProcessStats> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields counted from `state` (field 3 of proc(5)) as index 0.
    let num = |i: usize| fields.get(i)?.parse::<u64>().ok();
    let utime = num(11)?;
    let stime = num(12)?;
    let threads = num(17)?;
    let start_ticks = num(19)?;
    let vsize = num(20)?;
    let rss_pages = num(21)?;
    #[allow(clippy::cast_precision_loss)]
    Some(ProcessStats {
        cpu_seconds: (utime + stime) as f64 / TICKS_PER_SECOND,
        start_time_seconds: boot_time as f64 + start_ticks as f64 / TICKS_PER_SECOND,
        virtual_bytes: vsize,
        resident_bytes: rss_pages * PAGE_SIZE,
        threads,
        ..ProcessStats::default()
    })
}

fn read_process() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())?;
    let mut stats = parse_stat(&stat, boot_time)?;
    stats.open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    stats.max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        })
        .unwrap_or(0);
    Some(stats)
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let Some(p) = read_process() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(p.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu",
            "Total user and system CPU time spent in seconds.",
            Some(&Unit::Seconds),
            cpu.metric_type(),
        )?)?;
        #[allow(clippy::cast_possible_wrap)]
        let gauges: [(&str, &str, Option<Unit>, f64); 6] = [
            (
                "process_start_time",
                "Start time of the process since unix epoch in seconds.",
                Some(Unit::Seconds),
                p.start_time_seconds,
            ),
            (
                "process_virtual_memory",
                "Virtual memory size in bytes.",
                Some(Unit::Bytes),
                p.virtual_bytes as f64,
            ),
            (
                "process_resident_memory",
                "Resident memory size in bytes.",
                Some(Unit::Bytes),
                p.resident_bytes as f64,
            ),
            (
                "process_threads",
                "Number of OS threads.",
                None,
                p.threads as f64,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                None,
                p.open_fds as f64,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                None,
                p.max_fds as f64,
            ),
        ];
        for (name, help, unit, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(
                name,
                help,
                unit.as_ref(),
                gauge.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_design_family_is_rendered_with_bounded_labels() {
        let m = Metrics::new();
        m.request(
            "/api/v1/users/{id}",
            &actix_web::http::Method::GET,
            404,
            0.002,
        );
        m.request(
            "/api/v1/users/{id}",
            &actix_web::http::Method::from_bytes(b"BREW").unwrap(),
            405,
            0.001,
        );
        m.token_error(ErrorCode::InvalidGrant);
        m.token_issued(GrantType::ClientCredentials);
        m.refresh_reuse_detected();
        m.sign_in(SignInResult::Throttled);
        let text = m.render().unwrap();
        for line in [
            "gatehouse_http_requests_total{route=\"/api/v1/users/{id}\",method=\"GET\",status=\"404\"} 1",
            "gatehouse_http_requests_total{route=\"/api/v1/users/{id}\",method=\"other\",status=\"405\"} 1",
            "gatehouse_http_request_duration_seconds_bucket{route=\"/api/v1/users/{id}\",le=\"0.0025\"} 2",
            "gatehouse_http_request_duration_seconds_count{route=\"/api/v1/users/{id}\"} 2",
            "gatehouse_tokens_issued_total{grant_type=\"client_credentials\"} 1",
            "gatehouse_token_errors_total{error=\"invalid_grant\"} 1",
            "gatehouse_refresh_reuse_detected_total 1",
            "gatehouse_sign_ins_total{result=\"throttled\"} 1",
            "# TYPE gatehouse_store_errors_total counter",
            "# TYPE process_resident_memory_bytes gauge",
            "# TYPE process_cpu_seconds_total counter",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn proc_stat_is_read_past_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (gate (house) x) S 1 4242 4242 0 -1 4194560 1543 0 0 0 250 50 0 0 20 0 7 0 12345 104857600 2560 18446744073709551615";
        let p = parse_stat(stat, 1_700_000_000).unwrap();
        assert!((p.cpu_seconds - 3.0).abs() < 1e-9);
        assert_eq!(p.threads, 7);
        assert!((p.start_time_seconds - (1_700_000_000.0 + 123.45)).abs() < 1e-6);
        assert_eq!(p.virtual_bytes, 104_857_600);
        assert_eq!(p.resident_bytes, 2560 * 4096);
        assert_eq!(parse_stat("garbage", 0), None);
    }

    #[test]
    fn this_process_is_described() {
        let p = read_process().expect("Linux /proc");
        assert!(p.resident_bytes > 0 && p.threads >= 1 && p.open_fds >= 1);
        assert!(p.max_fds >= p.open_fds);
    }
}
