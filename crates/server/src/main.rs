//! The `gatehouse` binary: parse the command line, load configuration, run.

use clap::{Parser, Subcommand};
use gatehouse_server::{Application, Config};
use tracing_subscriber::EnvFilter;

/// An OAuth 2.1 authorization server for MCP servers, MCP clients and apps.
#[derive(Parser, Debug)]
#[command(name = "gatehouse", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the server (the default).
    Serve,
    /// Print the effective configuration (secrets redacted) and exit.
    Config,
    /// Apply pending database migrations to GATEHOUSE_DATABASE_URL and exit.
    /// (`serve` applies them too; this runs them alone, e.g. before a
    /// rolling deploy.)
    Migrate,
    /// Generate a new signing key and start signing with it. The old key
    /// stays in the JWKS until the tokens it signed have expired.
    RotateKey,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr; stdout carries only what the operator must see once
    // (the generated admin password), so log shipping never captures it.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let config = Config::load()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config => {
            println!("{config:#?}");
            Ok(())
        }
        Command::Migrate => {
            let applied = gatehouse_server::startup::migrate_store(&config.database_url).await?;
            if applied.is_empty() {
                println!("The database schema is up to date; no migration was pending.");
            } else {
                println!("Applied {} migration(s):", applied.len());
                for version in &applied {
                    println!("  {version}");
                }
            }
            Ok(())
        }
        Command::RotateKey => {
            let kid = gatehouse_server::startup::rotate_signing_key(&config).await?;
            println!("New signing key {kid} is active.");
            Ok(())
        }
        Command::Serve => {
            let app = Application::build(config).await?;
            app.run_until_stopped().await?;
            tracing::info!("Gatehouse stopped");
            Ok(())
        }
    }
}
