//! The `gatehouse` binary: parse the command line, load configuration, run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gatehouse_server::cli::{
    self, AuditArgs, ClientsCommand, GrantsCommand, KeysCommand, UsersCommand,
};
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
    /// Manage users: list, create, set-password, set-role, delete.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Manage OAuth clients: list, create, delete, rotate-secret.
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Revoke what a user has granted.
    Grants {
        #[command(subcommand)]
        command: GrantsCommand,
    },
    /// The signing keys: list, rotate.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The newest audit events, filtered.
    Audit(AuditArgs),
    /// Write a consistent copy of the live SQLite database to PATH (which
    /// must not exist). For PostgreSQL, use pg_dump.
    Backup {
        /// Where to write the copy.
        path: PathBuf,
    },
    /// Check an MCP server's OAuth setup against this Gatehouse the way MCP
    /// clients discover it; each mismatch with a one-sentence fix. Exits 0
    /// only when every check passes.
    Doctor {
        /// The URL MCP clients connect to, e.g. https://files.example.com/mcp.
        mcp_url: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    // The log format is configuration, so configuration loads first; a
    // configuration error is still reported.
    let config = Config::load();
    let default_filter = if matches!(command, Command::Serve) {
        "info"
    } else {
        "warn"
    };
    let format = config.as_ref().map_or(LogFormat::Text, |c| c.log_format);
    // Traces are the server's; a command's spans would be a trace of one.
    let (otlp, extra_ca) = match (&config, &command) {
        (Ok(c), Command::Serve) => (c.otlp_endpoint.as_deref(), c.extra_ca_file.as_deref()),
        _ => (None, None),
    };
    let telemetry = match telemetry::init(format, default_filter, otlp, extra_ca) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let outcome = match config {
        Ok(config) => run(command, config).await,
        Err(e) => Err(e),
    };
    telemetry.shutdown().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Reports `e` with its causes on one line, as `error: …`, without a
/// backtrace: the operator needs the reason, not our stack.
fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::FAILURE
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
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
        Command::Users { command } => cli::users(&cli::open(&config).await?, command).await,
        Command::Clients { command } => cli::clients(&cli::open(&config).await?, command).await,
        Command::Grants { command } => cli::grants(&cli::open(&config).await?, command).await,
        Command::Keys { command } => cli::keys(&cli::open(&config).await?, command).await,
        Command::Audit(args) => cli::audit(&cli::open(&config).await?, args).await,
        Command::Backup { path } => {
            let written = cli::backup(&config, &path).await?;
            println!(
                "Wrote a consistent copy of the database to {}.",
                written.display()
            );
            Ok(())
        }
        Command::Doctor { mcp_url, json } => {
            let report = gatehouse_server::doctor::diagnose(&config, &mcp_url).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
            anyhow::ensure!(
                report.ok(),
                "{} of {} checks failed",
                report.checks.iter().filter(|c| !c.ok).count(),
                report.checks.len()
            );
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
