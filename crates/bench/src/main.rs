//! `gatehouse-bench`: drives standard OAuth workloads against an
//! authorization server (Gatehouse or any other) and reports throughput,
//! latency and the server's memory and CPU, so `bench/run.sh` can compare
//! servers side by side in one run.

mod html;
mod launch;
mod oauth;
mod proc;
mod provision;
mod report;
mod run;
mod signin;
mod svg;
mod workload;

use clap::{Parser, Subcommand};

/// Load driver and report generator for the Gatehouse benchmark.
#[derive(Parser, Debug)]
#[command(name = "gatehouse-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one workload at one concurrency against one server.
    Run(Box<run::RunArgs>),
    /// Register the benchmark's resource, clients and user on a Gatehouse
    /// through its admin API; prints shell assignments of their credentials.
    ProvisionGatehouse(provision::ProvisionArgs),
    /// Start a server, report milliseconds from exec to its first 200 from a
    /// readiness URL and its idle RSS, and leave it running.
    Launch(launch::LaunchArgs),
    /// Turn the JSON lines of many runs into docs/benchmarks.md and an SVG.
    Report(report::ReportArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Built together with the server, reqwest carries its TLS feature and
    // insists on a process-wide provider even for plain http; an error only
    // means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let outcome = match cli.command {
        Command::Run(args) => run::main(*args),
        Command::ProvisionGatehouse(args) => provision::main(args),
        Command::Launch(args) => launch::main(args),
        Command::Report(args) => report::main(args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gatehouse-bench: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
