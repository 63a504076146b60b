//! `gatehouse-bench run`: one workload at one concurrency for a fixed time
//! after a warm-up, with latency in an HDR histogram and the server's
//! memory and CPU read from `/proc` while it runs.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use hdrhistogram::Histogram;
use ring::rand::SystemRandom;
use serde::{Deserialize, Serialize};

use crate::oauth::{self, AuthorizeParams, Credentials};
use crate::proc;
use crate::signin::SignIn;
use crate::workload::{self, Ctx, Failure, Workload};

/// Which sign-in step a server needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SignInKind {
    /// Gatehouse's sign-in and consent pages.
    Gatehouse,
    /// node-oidc-provider's interaction flow (bench/peers/oidc-provider).
    OidcProvider,
    /// A pre-established session cookie (`--session-cookie`).
    Cookie,
}

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workload.
    #[arg(long, value_enum)]
    pub workload: Workload,
    /// Concurrent connections, each with its own worker.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before measuring starts (not reported).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// The driver's own threads. One keeps the driver to one core of a
    /// small machine; its CPU time is reported, so a saturated driver shows.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// The server's issuer.
    #[arg(long)]
    pub issuer: String,
    /// Its metadata document; default: the RFC 8414 location for the issuer.
    #[arg(long)]
    pub metadata_url: Option<String>,
    /// The user-flow client (code, refresh): id.
    #[arg(long)]
    pub client_id: String,
    /// The user-flow client's secret.
    #[arg(long, env = "BENCH_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,
    /// The client-credentials client; default: the user-flow client.
    #[arg(long)]
    pub cc_client_id: Option<String>,
    /// Its secret.
    #[arg(long, env = "BENCH_CC_CLIENT_SECRET", hide_env_values = true)]
    pub cc_client_secret: Option<String>,
    /// The client that introspects; default: the client-credentials client.
    #[arg(long)]
    pub introspect_client_id: Option<String>,
    /// Its secret.
    #[arg(long, env = "BENCH_INTROSPECT_CLIENT_SECRET", hide_env_values = true)]
    pub introspect_client_secret: Option<String>,
    /// The user-flow client's registered redirect URI.
    #[arg(long, default_value = "http://localhost:8000/oauth/callback")]
    pub redirect_uri: String,
    /// RFC 8707 resource for client-credentials, code-flow and refresh.
    #[arg(long)]
    pub resource: Option<String>,
    /// Scope of client-credentials requests.
    #[arg(long)]
    pub cc_scope: Option<String>,
    /// Scope of code-flow and refresh (resource) authorizations.
    #[arg(long, default_value = "files:read")]
    pub code_scope: String,
    /// Scope of the user tokens for userinfo and introspect (no resource).
    #[arg(long, default_value = "profile email")]
    pub user_scope: String,
    /// How workers sign in.
    #[arg(long, value_enum, default_value = "gatehouse")]
    pub sign_in: SignInKind,
    /// The user's login.
    #[arg(long, default_value = "bench@example.com")]
    pub username: String,
    /// The user's password.
    #[arg(
        long,
        env = "BENCH_PASSWORD",
        hide_env_values = true,
        default_value = ""
    )]
    pub password: String,
    /// `--sign-in cookie`: the Cookie header value.
    #[arg(long, env = "BENCH_SESSION_COOKIE", hide_env_values = true)]
    pub session_cookie: Option<String>,
    /// Signed-in sessions the workers share (round robin). One: a single
    /// user signed in once, as in a browser; more spread the load over
    /// sessions but cost one password check each during setup.
    #[arg(long, default_value_t = 1)]
    pub sessions: usize,
    /// Workers set up at once (after each session's first sign-in).
    #[arg(long, default_value_t = 8)]
    pub setup_parallelism: usize,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// The server's process id, for its RSS and CPU time.
    #[arg(long)]
    pub pid: Option<u32>,
    /// A name for the server under test (`gatehouse-memory`, `oidc-provider`).
    #[arg(long, default_value = "server")]
    pub target: String,
    /// Append the result as one JSON line to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// One run's result: a line of the JSON output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// `--target`.
    pub target: String,
    /// The workload.
    pub workload: Workload,
    /// Connections.
    pub concurrency: usize,
    /// Driver threads.
    pub threads: usize,
    /// Signed-in sessions the workers shared.
    #[serde(default)]
    pub sessions: usize,
    /// Measured seconds (wall clock).
    pub duration_s: f64,
    /// Warm-up seconds.
    pub warmup_s: f64,
    /// Successful operations in the measured window.
    pub ops: u64,
    /// `ops / duration_s`.
    pub throughput: f64,
    /// Of successful operations in the measured window.
    pub latency_ms: Latency,
    /// Failed operations other than unexpected statuses (warm-up included).
    pub errors: u64,
    /// Responses with an unexpected HTTP status (warm-up included).
    pub non_2xx: u64,
    /// The first few distinct failures, to say what went wrong.
    pub error_samples: Vec<String>,
    /// The server's process id.
    pub server_pid: Option<u32>,
    /// Highest VmRSS sampled during the measured window, KiB.
    pub server_peak_rss_kb: Option<u64>,
    /// VmHWM at the end: the most it was ever resident, KiB.
    pub server_hwm_kb: Option<u64>,
    /// Server CPU seconds used during the measured window.
    pub server_cpu_s: Option<f64>,
    /// Driver CPU seconds during the measured window.
    pub client_cpu_s: f64,
    /// The machine's 1-minute load average at the end, to spot runs that
    /// shared the cores with other work.
    #[serde(default)]
    pub loadavg: Option<f64>,
    /// No errors and no unexpected statuses.
    pub ok: bool,
}

/// Entry point of `run`.
///
/// # Errors
/// Bad arguments, or a server that cannot be set up for the workload.
pub fn main(args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.concurrency == 0 || args.threads == 0 {
        bail!("--concurrency and --threads must be at least 1");
    }
    if !(args.duration > 0.0 && args.duration <= 3600.0 && (0.0..=600.0).contains(&args.warmup)) {
        bail!("--duration must be in (0, 3600] and --warmup in [0, 600] seconds");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    let result = rt.block_on(execute(&args))?;
    print_table(std::slice::from_ref(&result));
    if let Some(path) = &args.json {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(f, "{}", serde_json::to_string(&result)?)?;
    }
    if result.ok {
        Ok(ExitCode::SUCCESS)
    } else {
        for s in &result.error_samples {
            eprintln!("  failure: {s}");
        }
        Ok(ExitCode::from(2))
    }
}

fn build_ctx(args: &RunArgs, endpoints: oauth::Endpoints) -> anyhow::Result<Ctx> {
    let app = Credentials {
        id: args.client_id.clone(),
        secret: args.client_secret.clone(),
    };
    let machine = match (&args.cc_client_id, &args.cc_client_secret) {
        (Some(id), Some(secret)) => Credentials {
            id: id.clone(),
            secret: secret.clone(),
        },
        (None, None) => app.clone(),
        _ => bail!("give both --cc-client-id and --cc-client-secret, or neither"),
    };
    let introspector = match (&args.introspect_client_id, &args.introspect_client_secret) {
        (Some(id), Some(secret)) => Credentials {
            id: id.clone(),
            secret: secret.clone(),
        },
        (None, None) => machine.clone(),
        _ => bail!("give both --introspect-client-id and --introspect-client-secret, or neither"),
    };
    let sign_in = match args.sign_in {
        SignInKind::Gatehouse => SignIn::GatehouseForm {
            user: args.username.clone(),
            password: args.password.clone(),
        },
        SignInKind::OidcProvider => SignIn::OidcProviderInteraction {
            user: args.username.clone(),
            password: args.password.clone(),
        },
        SignInKind::Cookie => SignIn::SessionCookie {
            cookie: args
                .session_cookie
                .clone()
                .context("--sign-in cookie needs --session-cookie")?,
        },
    };
    let cc_body = workload::client_credentials_body(
        &machine,
        args.resource.as_deref(),
        args.cc_scope.as_deref(),
    );
    Ok(Ctx {
        workload: args.workload,
        endpoints,
        resource_request: AuthorizeParams {
            client_id: app.id.clone(),
            redirect_uri: args.redirect_uri.clone(),
            scope: args.code_scope.clone(),
            resource: args.resource.clone(),
        },
        user_request: AuthorizeParams {
            client_id: app.id.clone(),
            redirect_uri: args.redirect_uri.clone(),
            scope: args.user_scope.clone(),
            resource: None,
        },
        app,
        introspector,
        sign_in,
        cc_body,
        timeout: Duration::from_secs_f64(args.timeout),
        rng: SystemRandom::new(),
        jars: (0..args.sessions.clamp(1, args.concurrency.max(1)))
            .map(|_| Arc::new(reqwest::cookie::Jar::default()))
            .collect(),
    })
}

/// What one worker measured.
struct Tally {
    hist: Histogram<u64>,
    errors: u64,
    non_2xx: u64,
    samples: Vec<String>,
}

const MAX_SAMPLES: usize = 5;

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            // 1 µs to 60 s at 3 significant digits.
            hist: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            errors: 0,
            non_2xx: 0,
            samples: Vec::new(),
        })
    }

    fn fail(&mut self, f: &Failure) {
        match f {
            Failure::Status(..) => self.non_2xx += 1,
            Failure::Error(_) => self.errors += 1,
        }
        let s = f.to_string();
        if self.samples.len() < MAX_SAMPLES && !self.samples.contains(&s) {
            self.samples.push(s);
        }
    }
}

/// Server and driver resource use over the measured window.
#[derive(Default)]
struct Usage {
    peak_rss_kb: Option<u64>,
    hwm_kb: Option<u64>,
    server_cpu_s: Option<f64>,
    client_cpu_s: f64,
}

async fn sample_usage(pid: Option<u32>, measure_at: Instant, end: Instant) -> Usage {
    tokio::time::sleep_until(measure_at.into()).await;
    let server0 = pid.and_then(|p| proc::cpu_seconds(p).ok());
    let client0 = proc::own_cpu_seconds().unwrap_or(0.0);
    let mut peak = None::<u64>;
    // Bounded: one sample every 50 ms until the window closes.
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        if let Some(p) = pid
            && let Ok(m) = proc::memory(p)
        {
            peak = Some(peak.map_or(m.rss_kb, |x| x.max(m.rss_kb)));
        }
        if Instant::now() >= end {
            break;
        }
    }
    let server1 = pid.and_then(|p| proc::cpu_seconds(p).ok());
    Usage {
        peak_rss_kb: peak,
        hwm_kb: pid.and_then(|p| proc::memory(p).ok()).map(|m| m.hwm_kb),
        server_cpu_s: server0.zip(server1).map(|(a, b)| b - a),
        client_cpu_s: proc::own_cpu_seconds().unwrap_or(0.0) - client0,
    }
}

async fn execute(args: &RunArgs) -> anyhow::Result<RunResult> {
    let metadata = match &args.metadata_url {
        Some(m) => url::Url::parse(m).context("--metadata-url is not a URL")?,
        None => oauth::rfc8414_location(&args.issuer)?,
    };
    let probe = reqwest::Client::builder().no_proxy().build()?;
    let endpoints = oauth::discover(&probe, metadata).await?;
    if endpoints.issuer.trim_end_matches('/') != args.issuer.trim_end_matches('/') {
        bail!(
            "the metadata names issuer {} but --issuer is {}",
            endpoints.issuer,
            args.issuer
        );
    }
    let ctx = Arc::new(build_ctx(args, endpoints)?);
    workload::check_ready(&ctx)?;

    // Setup: the first worker of each session signs in, one at a time;
    // then the others fetch their tokens with the session, a few at once.
    let sessions = ctx.jars.len();
    let mut workers = Vec::with_capacity(args.concurrency);
    for id in 0..sessions.min(args.concurrency) {
        workers.push(
            ctx.setup(id)
                .await
                .with_context(|| format!("setting up worker {id} for {}", ctx.workload.name()))?,
        );
    }
    let gate = Arc::new(tokio::sync::Semaphore::new(args.setup_parallelism.max(1)));
    let mut setups = Vec::with_capacity(args.concurrency);
    for id in sessions..args.concurrency {
        let ctx = ctx.clone();
        let gate = gate.clone();
        setups.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            ctx.setup(id).await
        }));
    }
    for (i, s) in setups.into_iter().enumerate() {
        let id = sessions + i;
        workers.push(
            s.await?
                .with_context(|| format!("setting up worker {id} for {}", ctx.workload.name()))?,
        );
    }

    let start = Instant::now();
    let measure_at = start + Duration::from_secs_f64(args.warmup);
    let end = measure_at + Duration::from_secs_f64(args.duration);
    let sampler = tokio::spawn(sample_usage(args.pid, measure_at, end));
    let mut tasks = Vec::with_capacity(workers.len());
    for mut w in workers {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::new()?;
            // Bounded by time: the loop ends at `end`, and every request
            // has a timeout.
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let outcome = ctx.step(&mut w).await;
                let t1 = Instant::now();
                match outcome {
                    Ok(()) => {
                        if t0 >= measure_at && t1 <= end {
                            let us = u64::try_from((t1 - t0).as_micros()).unwrap_or(u64::MAX);
                            tally.hist.saturating_record(us.max(1));
                        }
                    }
                    Err(f) => tally.fail(&f),
                }
            }
            anyhow::Ok(tally)
        }));
    }
    let mut total = Tally::new()?;
    for t in tasks {
        let t = t.await??;
        total.hist.add(&t.hist)?;
        total.errors += t.errors;
        total.non_2xx += t.non_2xx;
        for s in t.samples {
            if total.samples.len() < MAX_SAMPLES && !total.samples.contains(&s) {
                total.samples.push(s);
            }
        }
    }
    let usage = sampler.await.unwrap_or_default();
    let ms = |us: u64| us as f64 / 1000.0;
    let h = &total.hist;
    let ops = h.len();
    Ok(RunResult {
        target: args.target.clone(),
        workload: args.workload,
        concurrency: args.concurrency,
        threads: args.threads,
        sessions: ctx.jars.len(),
        duration_s: args.duration,
        warmup_s: args.warmup,
        ops,
        throughput: ops as f64 / args.duration,
        latency_ms: if ops == 0 {
            Latency::default()
        } else {
            Latency {
                p50: ms(h.value_at_quantile(0.50)),
                p90: ms(h.value_at_quantile(0.90)),
                p99: ms(h.value_at_quantile(0.99)),
                max: ms(h.max()),
                mean: h.mean() / 1000.0,
            }
        },
        ok: total.errors == 0 && total.non_2xx == 0 && ops > 0,
        errors: total.errors,
        non_2xx: total.non_2xx,
        error_samples: total.samples,
        server_pid: args.pid,
        server_peak_rss_kb: usage.peak_rss_kb,
        server_hwm_kb: usage.hwm_kb,
        server_cpu_s: usage.server_cpu_s,
        client_cpu_s: usage.client_cpu_s,
        loadavg: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok())),
    })
}

/// Prints results as a fixed-width table.
pub fn print_table(results: &[RunResult]) {
    println!(
        "{:<20} {:<19} {:>4} {:>10} {:>8} {:>8} {:>8} {:>6} {:>7} {:>9} {:>7} {:>7}",
        "target",
        "workload",
        "conn",
        "ops/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "errors",
        "non-2xx",
        "peak RSS",
        "srv CPU",
        "drv CPU"
    );
    for r in results {
        println!(
            "{:<20} {:<19} {:>4} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>6} {:>7} {:>9} {:>7} {:>7.2}",
            r.target,
            r.workload.name(),
            r.concurrency,
            r.throughput,
            r.latency_ms.p50,
            r.latency_ms.p90,
            r.latency_ms.p99,
            r.errors,
            r.non_2xx,
            r.server_peak_rss_kb
                .map_or("-".into(), |k| format!("{:.1} MB", k as f64 / 1024.0)),
            r.server_cpu_s.map_or("-".into(), |s| format!("{s:.2}")),
            r.client_cpu_s,
        );
    }
}
