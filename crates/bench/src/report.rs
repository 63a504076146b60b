//! `gatehouse-bench report`: turns the JSON lines of a benchmark run into
//! docs/benchmarks.md (tables, ratios to the peer, the issue's targets
//! checked against the numbers) and an SVG chart.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::launch::Startup;
use crate::run::RunResult;
use crate::svg;
use crate::workload::Workload;

/// Arguments of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// JSON lines written by `run --json`.
    #[arg(long)]
    pub results: PathBuf,
    /// JSON lines written by `launch --json`.
    #[arg(long)]
    pub startup: Option<PathBuf>,
    /// Markdown included as the "Profile and next steps" section.
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// The target name of the peer the ratios divide by.
    #[arg(long, default_value = "oidc-provider")]
    pub peer: String,
    /// `KEY=VALUE` facts about the run (versions, conditions), in order.
    #[arg(long = "fact")]
    pub facts: Vec<String>,
    /// Commands that rerun the benchmark, shown verbatim.
    #[arg(long = "command")]
    pub commands: Vec<String>,
    /// Free-text notes (skipped stores, failures).
    #[arg(long = "note")]
    pub notes: Vec<String>,
    /// The Markdown file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// The SVG file to write (linked from the Markdown by file name).
    #[arg(long)]
    pub svg: PathBuf,
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("a line of {}", path.display())))
        .collect()
}

fn mb(kb: u64) -> f64 {
    kb as f64 * 1024.0 / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn machine() -> Vec<(String, String)> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or("unknown".into(), |kb| {
            format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    vec![
        (
            "cores (nproc)".into(),
            std::thread::available_parallelism()
                .map(|n| n.to_string())
                .unwrap_or_default(),
        ),
        ("CPU".into(), cpu),
        ("memory".into(), mem),
        ("kernel".into(), kernel),
    ]
}

/// Entry point.
///
/// # Errors
/// Unreadable inputs or unwritable outputs.
pub fn main(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let results: Vec<RunResult> = read_lines(&args.results)?;
    let startups: Vec<Startup> = match &args.startup {
        Some(p) if p.exists() => read_lines(p)?,
        _ => Vec::new(),
    };
    let profile = match &args.profile {
        Some(p) => {
            Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
        }
        None => None,
    };
    let mut targets: Vec<String> = Vec::new();
    for r in &results {
        if !targets.contains(&r.target) {
            targets.push(r.target.clone());
        }
    }
    // The peer last, so ratios read left to right.
    targets.sort_by_key(|t| *t == args.peer);
    let concurrencies: BTreeSet<usize> = results.iter().map(|r| r.concurrency).collect();
    let svg_name = args
        .svg
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "benchmarks.svg".into());
    let md = render(
        &args,
        &results,
        &startups,
        &targets,
        &concurrencies,
        &svg_name,
        profile.as_deref(),
    );
    let panels: Vec<svg::Panel> = concurrencies
        .iter()
        .map(|c| svg::Panel {
            title: format!("{c} connections"),
            groups: Workload::ALL.iter().map(|w| w.name().to_owned()).collect(),
            values: Workload::ALL
                .iter()
                .map(|w| {
                    targets
                        .iter()
                        .map(|t| find(&results, t, *w, *c).map(|r| r.throughput))
                        .collect()
                })
                .collect(),
        })
        .collect();
    let chart = svg::chart(
        "Throughput by workload and server (higher is better)",
        &targets,
        &panels,
    );
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, md).with_context(|| format!("writing {}", args.out.display()))?;
    std::fs::write(&args.svg, chart).with_context(|| format!("writing {}", args.svg.display()))?;
    eprintln!("wrote {} and {}", args.out.display(), args.svg.display());
    Ok(ExitCode::SUCCESS)
}

fn find<'a>(
    results: &'a [RunResult],
    target: &str,
    w: Workload,
    c: usize,
) -> Option<&'a RunResult> {
    results
        .iter()
        .find(|r| r.target == target && r.workload == w && r.concurrency == c)
}

fn is_gatehouse(t: &str) -> bool {
    t.starts_with("gatehouse")
}

fn store_of(t: &str) -> &str {
    t.strip_prefix("gatehouse-").unwrap_or(t)
}

#[allow(clippy::too_many_lines)]
fn render(
    args: &ReportArgs,
    results: &[RunResult],
    startups: &[Startup],
    targets: &[String],
    concurrencies: &BTreeSet<usize>,
    svg_name: &str,
    profile: Option<&str>,
) -> String {
    let peer = args.peer.as_str();
    let ours: Vec<&String> = targets.iter().filter(|t| is_gatehouse(t)).collect();
    let mut s = String::new();
    let _ = writeln!(s, "# Benchmarks: Gatehouse and node-oidc-provider\n");
    let _ = writeln!(
        s,
        "Generated by `bench/run.sh` (`just bench`); rerun it to replace this file. Every number below comes from one run on one machine: both servers were measured back to back under the same conditions by the same load driver (`crates/bench`, binary `gatehouse-bench`), which speaks only standard OAuth to each. Absolute numbers depend on the machine and on whatever else ran on it; the **ratios** between servers in the same run are the meaningful result.\n"
    );
    let _ = writeln!(s, "## Machine and conditions\n");
    for (k, v) in machine() {
        let _ = writeln!(s, "- {k}: {v}");
    }
    for f in &args.facts {
        if let Some((k, v)) = f.split_once('=') {
            let _ = writeln!(s, "- {k}: {v}");
        }
    }
    let _ = writeln!(s);
    if !args.commands.is_empty() {
        let _ = writeln!(s, "## How to rerun\n\n```sh");
        for c in &args.commands {
            let _ = writeln!(s, "{c}");
        }
        let _ = writeln!(s, "```\n");
    }
    let _ = writeln!(
        s,
        "## Method\n\n\
- Each server runs alone on 127.0.0.1; the driver opens `connections` keep-alive HTTP/1.1 connections, one worker per connection, each sending its next request when the previous answer arrives (closed loop). The driver runs on one thread, so it occupies at most one of the cores; its CPU time is in the detailed table.\n\
- Each workload starts on a freshly started server (its store empty but for the benchmark's clients, resource and user), first at the lower and then at the higher connection count. Setup (sign-in, first tokens) is not measured; a warm-up runs before each measured window and is excluded from throughput and latency.\n\
- `client-credentials`: `grant_type=client_credentials`, secret in the body, one resource: an ES256 JWT access token per request. `refresh`: one independent chain per connection, each request presenting the refresh token the previous answer returned (rotation on both servers). `code-flow`: one operation is a whole flow for a signed-in user with remembered consent, `GET authorize` (redirect with a code) then the code + PKCE token request, with a refresh token issued as well. `introspect`: RFC 7662 introspection of a valid user access token by a confidential client. `userinfo`: `GET` with that bearer token. `discovery` and `jwks`: the metadata document and the key set, as framework baselines.\n\
- Token formats as each server issues them: resource tokens (client-credentials, code-flow, refresh) are ES256 JWTs on both. User tokens for userinfo and introspect are ES256 JWTs at Gatehouse and opaque handles at node-oidc-provider (looked up in its store). Each connection presents its own token again and again, as a client or resource server presents a bearer over its life: Gatehouse verifies a token's signature on its first presentation and then remembers it by hash, still checking expiry and revocation (a store read) on every request: node-oidc-provider refuses to introspect JWTs and to serve userinfo for resource-bound tokens.\n\
- Any error or unexpected status fails the run; failed runs are listed below and excluded from the targets.\n\
- Peak RSS is the highest `VmRSS` of the server sampled every 50 ms during the measured window; CPU is `utime + stime` of the server process over the measured window (`/proc/<pid>/stat`).\n"
    );

    // Summary tables with ratios.
    let _ = writeln!(s, "## Results\n");
    let _ = writeln!(
        s,
        "Throughput in operations per second (p99 latency in ms in brackets). Ratios are Gatehouse ÷ {peer}, throughput, same run.\n"
    );
    for c in concurrencies {
        let _ = writeln!(s, "### {c} connections\n");
        let mut head = String::from("| workload |");
        let mut rule = String::from("|---|");
        for t in targets {
            let _ = write!(head, " {t} |");
            rule.push_str("---:|");
        }
        if targets.iter().any(|t| t == peer) {
            for t in &ours {
                let _ = write!(head, " {} ÷ peer |", store_of(t));
                rule.push_str("---:|");
            }
        }
        let _ = writeln!(s, "{head}\n{rule}");
        for w in Workload::ALL {
            let mut row = format!("| {} |", w.name());
            for t in targets {
                match find(results, t, w, *c) {
                    Some(r) if r.ok => {
                        let _ = write!(row, " {:.0} ({:.2}) |", r.throughput, r.latency_ms.p99);
                    }
                    Some(r) => {
                        let _ = write!(
                            row,
                            " {:.0} ({:.2}) **failed: {} errors, {} non-2xx** |",
                            r.throughput, r.latency_ms.p99, r.errors, r.non_2xx
                        );
                    }
                    None => row.push_str(" – |"),
                }
            }
            if targets.iter().any(|t| t == peer) {
                let p = find(results, peer, w, *c);
                for t in &ours {
                    match (find(results, t, w, *c), p) {
                        (Some(g), Some(p)) if p.throughput > 0.0 => {
                            let _ = write!(row, " **{:.1}×** |", g.throughput / p.throughput);
                        }
                        _ => row.push_str(" – |"),
                    }
                }
            }
            let _ = writeln!(s, "{row}");
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "![Throughput by workload and server]({svg_name})\n");

    // Server CPU per operation: independent of how the driver shares the cores.
    let _ = writeln!(s, "### Server CPU per operation\n");
    let _ = writeln!(
        s,
        "Milliseconds of server CPU per successful operation (all connection counts pooled); lower is better. The last columns say how many times more CPU the peer spends on the same operation. This does not depend on how the driver and the server share the two cores, so it is the steadiest comparison.\n"
    );
    let mut head = String::from("| workload |");
    let mut rule = String::from("|---|");
    for t in targets {
        let _ = write!(head, " {t} |");
        rule.push_str("---:|");
    }
    let has_peer = targets.iter().any(|t| t == peer);
    if has_peer {
        for t in &ours {
            let _ = write!(head, " peer ÷ {} |", store_of(t));
            rule.push_str("---:|");
        }
    }
    let _ = writeln!(s, "{head}\n{rule}");
    let cpu_per_op = |t: &str, w: Workload| {
        let (cpu, ops) = results
            .iter()
            .filter(|r| r.target == t && r.workload == w)
            .fold((0.0, 0u64), |(c, o), r| {
                (c + r.server_cpu_s.unwrap_or(0.0), o + r.ops)
            });
        (ops > 0 && cpu > 0.0).then(|| cpu * 1000.0 / ops as f64)
    };
    for w in Workload::ALL {
        let mut row = format!("| {} |", w.name());
        for t in targets {
            match cpu_per_op(t, w) {
                Some(ms) => {
                    let _ = write!(row, " {ms:.3} |");
                }
                None => row.push_str(" – |"),
            }
        }
        if has_peer {
            for t in &ours {
                match (cpu_per_op(peer, w), cpu_per_op(t, w)) {
                    (Some(p), Some(g)) => {
                        let _ = write!(row, " {:.1}× |", p / g);
                    }
                    _ => row.push_str(" – |"),
                }
            }
        }
        let _ = writeln!(s, "{row}");
    }
    let _ = writeln!(s);

    // Startup and memory.
    let _ = writeln!(s, "## Startup and memory\n");
    let _ = writeln!(
        s,
        "Time to ready: from spawning the process to its first 200 (Gatehouse: `/readyz`; {peer}: its discovery document), measured at every start of the run (one per workload). Idle RSS: one second after ready, before any request. Peak RSS: the highest sample under load over all runs.\n"
    );
    let _ = writeln!(
        s,
        "| target | starts | ready, median ms | ready, max ms | idle RSS, median MB | idle RSS, max MB | peak RSS under load, MB |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for t in targets {
        let st: Vec<&Startup> = startups.iter().filter(|x| &x.target == t).collect();
        let peak = results
            .iter()
            .filter(|r| &r.target == t)
            .filter_map(|r| r.server_peak_rss_kb)
            .max();
        if st.is_empty() && peak.is_none() {
            continue;
        }
        let ready: Vec<f64> = st.iter().map(|x| x.ready_ms).collect();
        let idle: Vec<f64> = st.iter().map(|x| mb(x.idle_rss_kb)).collect();
        let _ = writeln!(
            s,
            "| {t} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            st.len(),
            median(ready.clone()),
            ready.iter().copied().fold(f64::NAN, f64::max),
            median(idle.clone()),
            idle.iter().copied().fold(f64::NAN, f64::max),
            peak.map_or("–".into(), |k| format!("{:.1}", mb(k)))
        );
    }
    let _ = writeln!(s);

    // Targets.
    let _ = writeln!(s, "## The issue's targets\n");
    let _ = writeln!(s, "| target | measured | verdict |\n|---|---|---|");
    for w in [
        Workload::ClientCredentials,
        Workload::Refresh,
        Workload::Introspect,
    ] {
        for t in &ours {
            let need = if store_of(t) == "postgres" { 3.0 } else { 5.0 };
            let ratios: Vec<(usize, f64)> = concurrencies
                .iter()
                .filter_map(|c| {
                    let g = find(results, t, w, *c)?;
                    let p = find(results, peer, w, *c)?;
                    (p.throughput > 0.0).then(|| (*c, g.throughput / p.throughput))
                })
                .collect();
            if ratios.is_empty() {
                continue;
            }
            let worst = ratios.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
            let detail = ratios
                .iter()
                .map(|(c, r)| format!("{r:.1}× at {c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                s,
                "| `{}` ≥ {need:.0}× peer ({}) | {detail} | {} |",
                w.name(),
                store_of(t),
                verdict(
                    worst >= need,
                    &if worst >= need {
                        format!(
                            "lowest {worst:.1}×, {:.0}% above",
                            (worst / need - 1.0) * 100.0
                        )
                    } else {
                        format!(
                            "lowest {worst:.1}×, {:.0}% short",
                            (1.0 - worst / need) * 100.0
                        )
                    }
                )
            );
        }
    }
    if let Some(c16) = concurrencies
        .iter()
        .find(|c| **c == 16)
        .or(concurrencies.first())
    {
        for t in &ours {
            let rs: Vec<&RunResult> = results
                .iter()
                .filter(|r| &r.target == *t && r.concurrency == *c16 && r.ops > 0)
                .collect();
            if rs.is_empty() {
                continue;
            }
            let worst = rs
                .iter()
                .max_by(|a, b| a.latency_ms.p99.total_cmp(&b.latency_ms.p99))
                .map(|r| (r.workload.name(), r.latency_ms.p99))
                .unwrap_or(("", 0.0));
            let over: Vec<String> = rs
                .iter()
                .filter(|r| r.latency_ms.p99 >= 5.0)
                .map(|r| format!("{} {:.2} ms", r.workload.name(), r.latency_ms.p99))
                .collect();
            let _ = writeln!(
                s,
                "| p99 < 5 ms at {c16} connections, every workload ({}) | worst: {} {:.2} ms{} | {} |",
                store_of(t),
                worst.0,
                worst.1,
                if over.is_empty() {
                    String::new()
                } else {
                    format!("; over: {}", over.join(", "))
                },
                verdict(
                    over.is_empty(),
                    &if over.is_empty() {
                        format!("{:.1}× under the limit", 5.0 / worst.1.max(1e-9))
                    } else {
                        format!("worst is {:.1}× the limit", worst.1 / 5.0)
                    }
                )
            );
        }
    }
    for t in &ours {
        let st: Vec<&Startup> = startups.iter().filter(|x| &x.target == *t).collect();
        if !st.is_empty() {
            let idle = st.iter().map(|x| mb(x.idle_rss_kb)).fold(0.0, f64::max);
            let _ = writeln!(
                s,
                "| idle RSS < 15 MB ({}) | max {idle:.2} MB over {} starts | {} |",
                store_of(t),
                st.len(),
                verdict(idle < 15.0, &headroom(idle, 15.0))
            );
        }
        if let Some(peak) = results
            .iter()
            .filter(|r| &r.target == *t)
            .filter_map(|r| r.server_peak_rss_kb)
            .max()
        {
            let p = mb(peak);
            let _ = writeln!(
                s,
                "| peak RSS < 64 MB under load ({}) | max {p:.1} MB | {} |",
                store_of(t),
                verdict(p < 64.0, &headroom(p, 64.0))
            );
        }
        if !st.is_empty() && store_of(t) != "postgres" {
            let ready: Vec<f64> = st.iter().map(|x| x.ready_ms).collect();
            let max = ready.iter().copied().fold(0.0, f64::max);
            let _ = writeln!(
                s,
                "| ready within 50 ms of exec ({}) | median {:.1} ms, max {max:.1} ms | {} |",
                store_of(t),
                median(ready),
                verdict(
                    max < 50.0,
                    &if max < 50.0 {
                        format!("max at {:.0}% of the budget", max / 50.0 * 100.0)
                    } else {
                        format!("max {:.1}× the budget", max / 50.0)
                    }
                )
            );
        }
    }
    let failed: Vec<&RunResult> = results.iter().filter(|r| !r.ok).collect();
    let _ = writeln!(
        s,
        "| zero errors in every run | {} runs, {} failed | {} |\n",
        results.len(),
        failed.len(),
        verdict(failed.is_empty(), "")
    );

    if !failed.is_empty() || !args.notes.is_empty() {
        let _ = writeln!(s, "## Failures and notes\n");
        for n in &args.notes {
            let _ = writeln!(s, "- {n}");
        }
        for r in &failed {
            let _ = writeln!(
                s,
                "- **{} {} at {}**: {} errors, {} non-2xx; {}",
                r.target,
                r.workload.name(),
                r.concurrency,
                r.errors,
                r.non_2xx,
                r.error_samples.join(" | ").replace('\n', " ")
            );
        }
        let _ = writeln!(s);
    }

    let _ = writeln!(s, "## Every run\n");
    let _ = writeln!(
        s,
        "| target | workload | conn | ops/s | p50 ms | p90 ms | p99 ms | max ms | errors | non-2xx | peak RSS MB | server CPU s | server CPU ms/op | driver CPU s | load avg |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for t in targets {
        for w in Workload::ALL {
            for c in concurrencies {
                if let Some(r) = find(results, t, w, *c) {
                    let cpu = r.server_cpu_s.unwrap_or(f64::NAN);
                    let _ = writeln!(
                        s,
                        "| {t} | {} | {c} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {} | {cpu:.2} | {:.3} | {:.2} | {} |",
                        w.name(),
                        r.throughput,
                        r.latency_ms.p50,
                        r.latency_ms.p90,
                        r.latency_ms.p99,
                        r.latency_ms.max,
                        r.errors,
                        r.non_2xx,
                        r.server_peak_rss_kb
                            .map_or("–".into(), |k| format!("{:.1}", mb(k))),
                        if r.ops > 0 {
                            cpu * 1000.0 / r.ops as f64
                        } else {
                            f64::NAN
                        },
                        r.client_cpu_s,
                        r.loadavg.map_or("–".into(), |l| format!("{l:.1}"))
                    );
                }
            }
        }
    }
    let _ = writeln!(s);
    if let Some(p) = profile {
        let _ = writeln!(s, "{}", p.trim_end());
    }
    s
}

fn headroom(v: f64, limit: f64) -> String {
    if v < limit {
        format!("{:.2} MB to spare", limit - v)
    } else {
        format!("{:.2} MB over", v - limit)
    }
}

fn verdict(ok: bool, how: &str) -> String {
    match (ok, how.is_empty()) {
        (true, true) => "**met**".into(),
        (true, false) => format!("**met** ({how})"),
        (false, true) => "**not met**".into(),
        (false, false) => format!("**not met** ({how})"),
    }
}
