//! The `gatehouse` binary: parse the command line, load configuration, run.

use clap::{Parser, Subcommand};
use gatehouse_server::telemetry::{self, LogFormat};
use gatehouse_server::{Application, Config};

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
    let cli = Cli::parse();
    // The log format is configuration, so configuration loads first; a
    // configuration error is still reported (on stderr, by main's `Err`).
    let config = Config::load();
    telemetry::init(config.as_ref().map_or(LogFormat::Text, |c| c.log_format));
    let config = config?;
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
