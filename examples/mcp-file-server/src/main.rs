//! `mcp-file-server`: the seed's MCP File Server, in Rust, as an OAuth
//! resource server of Gatehouse. See README.md for how to register and run
//! it, and docs/mcp-rust.md for the walk-through.

mod app;
mod config;
mod platform;
mod tools;

use std::io::IsTerminal;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

async fn run() -> Result<(), String> {
    let config = config::Config::from_env().map_err(|e| e.to_string())?;
    if std::env::var_os("MCP_INTROSPECTION").is_some() {
        tracing::warn!(
            "MCP_INTROSPECTION is deprecated (and ignored when MCP_REVOCATION is set): use MCP_REVOCATION=introspection for true, expiry for false"
        );
    }
    let shutdown = CancellationToken::new();
    let app = app::build(&config, shutdown.clone())
        .await
        .map_err(|e| e.to_string())?;
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(l) => l,
        Err(e) => {
            app.verifier.close().await;
            return Err(format!("cannot listen on {}: {e}", config.addr));
        }
    };
    tracing::info!(
        resource = %config.resource,
        issuer = %config.issuer,
        addr = %config.addr,
        revocation = %config.revocation,
        "MCP file server ready"
    );
    let served = axum::serve(listener, app.router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            shutdown.cancel();
        })
        .await;
    // Deletes the Shared Signals stream, so Gatehouse stops keeping events
    // for a receiver that is gone.
    app.verifier.close().await;
    served.map_err(|e| format!("server error: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    // rmcp logs every request's service lifecycle at info; keep its warnings.
    tracing_subscriber::fmt()
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rmcp=warn")),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("mcp-file-server: {e}");
            ExitCode::FAILURE
        }
    }
}
