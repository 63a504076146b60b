//! `gatehouse-bench launch`: starts a server and measures how long it takes
//! from exec to its first 200 on a readiness URL, then its idle RSS. The
//! server keeps running; the caller stops it by the pid written out.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::proc;

/// Arguments of `launch`.
#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// Polled until it answers 200 (plain http).
    #[arg(long)]
    pub ready_url: String,
    /// The server's stdout and stderr go here.
    #[arg(long)]
    pub log: PathBuf,
    /// The server's pid is written here.
    #[arg(long)]
    pub pid_file: PathBuf,
    /// Give up (and kill the server) after this long.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Wait this long after ready before reading the idle RSS.
    #[arg(long, default_value_t = 1_000)]
    pub settle_ms: u64,
    /// A name for the report (`gatehouse-memory`).
    #[arg(long, default_value = "server")]
    pub target: String,
    /// Append the measurement as one JSON line here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// What `launch` measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Startup {
    /// `--target`.
    pub target: String,
    /// The server's pid.
    pub pid: u32,
    /// Milliseconds from spawning the process to the first 200.
    pub ready_ms: f64,
    /// VmRSS after `settle_ms`, KiB.
    pub idle_rss_kb: u64,
}

/// Entry point.
///
/// # Errors
/// The server exits, or is not ready in time (it is then killed).
pub fn main(args: LaunchArgs) -> anyhow::Result<ExitCode> {
    let (addr, host, path) = parse_http_url(&args.ready_url)?;
    let log = std::fs::File::create(&args.log)
        .with_context(|| format!("creating {}", args.log.display()))?;
    let (program, rest) = args.command.split_first().context("no command to launch")?;
    // A server still answering from an earlier start would make this one
    // look ready at once.
    if probe(addr, &host, &path) {
        bail!(
            "{} already answers before the server is started",
            args.ready_url
        );
    }
    let t0 = Instant::now();
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let pid = child.id();
    std::fs::write(&args.pid_file, format!("{pid}\n"))?;
    let deadline = t0 + Duration::from_millis(args.timeout_ms);
    // Bounded by the deadline; a refused connection returns at once, so
    // poll every half millisecond.
    let ready_ms = loop {
        if probe(addr, &host, &path) {
            break t0.elapsed().as_secs_f64() * 1000.0;
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "{program} exited ({status}) before it was ready; see {}",
                args.log.display()
            );
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{program} was not ready within {} ms; see {}",
                args.timeout_ms,
                args.log.display()
            );
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    std::thread::sleep(Duration::from_millis(args.settle_ms));
    let idle = proc::memory(pid)?;
    let s = Startup {
        target: args.target.clone(),
        pid,
        ready_ms,
        idle_rss_kb: idle.rss_kb,
    };
    eprintln!(
        "{}: pid {pid}, ready in {ready_ms:.1} ms, idle RSS {:.1} MiB",
        s.target,
        idle.rss_kb as f64 / 1024.0
    );
    if let Some(path) = &args.json {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(f, "{}", serde_json::to_string(&s)?)?;
    }
    // Dropping `child` neither waits for nor kills the server.
    drop(child);
    Ok(ExitCode::SUCCESS)
}

fn parse_http_url(raw: &str) -> anyhow::Result<(SocketAddr, String, String)> {
    let u = url::Url::parse(raw).context("--ready-url is not a URL")?;
    if u.scheme() != "http" {
        bail!("--ready-url must be http://");
    }
    let host = u.host_str().context("--ready-url has no host")?.to_owned();
    let port = u.port_or_known_default().unwrap_or(80);
    let addr = (host.as_str(), port)
        .to_socket_addrs()?
        .next()
        .context("--ready-url's host does not resolve")?;
    let mut path = u.path().to_owned();
    if let Some(q) = u.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok((addr, format!("{host}:{port}"), path))
}

/// One `GET` over a fresh connection; true on a 200.
fn probe(addr: SocketAddr, host: &str, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(2000)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    let mut got = 0;
    while got < head.len() {
        match s.read(&mut head[got..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got += n,
        }
    }
    head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200")
}
