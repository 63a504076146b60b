//! The operator's command line (DESIGN §10): users, clients, grants, keys,
//! the audit log and backups, on the same configuration as the server,
//! acting on the store directly through the core (so every rule and audit
//! event applies as it does over HTTP). Human tables by default; `--json`
//! prints a JSON array of objects shaped like the API's.
//!
//! Whoever can run this holds the database and its key, so it acts as
//! [`Gatehouse::operator`]: an administrator that is not an account.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use gatehouse_core::Gatehouse;
use gatehouse_core::audit::{AuditKind, AuditQuery, MAX_PAGE};
use gatehouse_core::model::{ClientId, Email, Role, User};
use gatehouse_core::service::{AdminPassword, NewClient, NewUser, UserPatch};
use serde::Serialize;

use crate::config::{Config, DatabaseUrl};
use crate::http::wire;

/// `gatehouse users …`
#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Every user, oldest first.
    List(Output),
    /// Creates a user. Without `--password-stdin` a password is generated
    /// and printed once.
    Create {
        /// The email address (the sign-in name).
        #[arg(long)]
        email: String,
        /// The display name (default: the part before `@`).
        #[arg(long)]
        name: Option<String>,
        /// `admin` or `user`.
        #[arg(long, default_value = "user")]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Sets a user's password (read from standard input) and ends their
    /// sessions and grants.
    SetPassword {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// Required: the password is read from standard input's first line,
        /// never from the command line, where `ps` would show it.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Makes a user an `admin` or a `user`.
    SetRole {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// `admin` or `user`.
        #[arg(long)]
        role: String,
    },
    /// Deletes a user and everything issued to them.
    Delete {
        /// The user's email.
        #[arg(long)]
        email: String,
    },
}

/// `gatehouse clients …`
#[derive(Subcommand, Debug)]
pub enum ClientsCommand {
    /// Every client, oldest first.
    List(Output),
    /// Registers a client, as `POST /api/v1/oauth/clients` does; a
    /// confidential client's secret is printed once.
    Create(NewClientArgs),
    /// Deletes a client and everything issued to it.
    Delete {
        /// The client's `client_id`.
        client_id: String,
    },
    /// Issues a new secret (printed once); the old one stops working.
    RotateSecret {
        /// The client's `client_id`.
        client_id: String,
        #[command(flatten)]
        output: Output,
    },
}

/// The admin API's client fields, as flags.
#[derive(Args, Debug)]
pub struct NewClientArgs {
    /// Display name.
    #[arg(long)]
    name: String,
    /// Description.
    #[arg(long)]
    description: Option<String>,
    /// A redirect URI (repeat for more).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// An allowed scope (repeat, or space-separated).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// A public client (no secret; PKCE).
    #[arg(long)]
    public: bool,
    /// A grant type (repeat): `authorization_code`, `refresh_token`,
    /// `client_credentials`, the token-exchange URN.
    #[arg(long = "grant-type")]
    grant_types: Vec<String>,
    /// The resource (MCP server URI) its tokens are for.
    #[arg(long)]
    resource: Option<String>,
    /// A token-exchange target (repeat).
    #[arg(long = "exchange-target")]
    exchange_targets: Vec<String>,
    /// What its authorization requests get when they name no resource.
    #[arg(long)]
    default_resource: Option<String>,
    /// Where RP-initiated logout may send the browser afterwards (repeat).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// Let a confidential client skip PKCE.
    #[arg(long)]
    no_pkce: bool,
    #[command(flatten)]
    output: Output,
}

/// `gatehouse grants …`
#[derive(Subcommand, Debug)]
pub enum GrantsCommand {
    /// Revokes a user's grants: to one client, or to all (which also ends
    /// their browser sessions).
    Revoke {
        /// The user's email.
        #[arg(long)]
        user: String,
        /// Only grants to this client.
        #[arg(long)]
        client: Option<String>,
    },
}

/// `gatehouse keys …`
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// The signing keys, newest (active) first, retired ones included.
    List(Output),
    /// Starts signing with a new key; the old one stays published until
    /// its tokens have expired.
    Rotate,
}

/// `gatehouse audit`
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Only this event type (`sign_in.failed`, `grant.revoked`, …).
    #[arg(long = "type")]
    kind: Option<String>,
    /// Only events about this user (email).
    #[arg(long)]
    user: Option<String>,
    /// Only events involving this client.
    #[arg(long)]
    client: Option<String>,
    /// How many of the newest events (1 to 500).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[command(flatten)]
    output: Output,
}

/// `--json`.
#[derive(Args, Debug, Clone, Copy)]
pub struct Output {
    /// Print a JSON array of objects shaped like the API's.
    #[arg(long)]
    json: bool,
}

/// The core on the configured store, for a command that acts on it.
///
/// # Errors
/// The memory store (a command would change a database no server shares,
/// and lose it at exit), or what [`crate::startup::open_core`] refuses.
pub async fn open(config: &Config) -> anyhow::Result<Gatehouse> {
    anyhow::ensure!(
        !matches!(config.database_url, DatabaseUrl::Memory),
        "GATEHOUSE_DATABASE_URL names the memory store, which lives inside one server \
         process: point it at the server's SQLite file or PostgreSQL database"
    );
    crate::startup::open_core(config).await
}

/// A row-per-record table, columns padded to their widest cell.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    if rows.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

fn print_json(items: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(items)?);
    Ok(())
}

fn ts(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The first line of standard input, without its line ending.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    Ok(password)
}

fn role(raw: &str) -> anyhow::Result<Role> {
    Role::parse(raw).ok_or_else(|| anyhow::anyhow!("--role must be admin or user"))
}

async fn user_by_email(gh: &Gatehouse, email: &str) -> anyhow::Result<User> {
    let parsed = Email::parse(email).map_err(|e| anyhow::anyhow!("{email}: {}", e.0))?;
    gh.ports()
        .users
        .get_user_by_email(&parsed)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user has the email {email}"))
}

fn print_users(users: &[User], output: Output) -> anyhow::Result<()> {
    if output.json {
        return print_json(&users.iter().map(wire::UserBody::from).collect::<Vec<_>>());
    }
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.id.to_string(),
                u.email.as_str().to_owned(),
                u.name.clone(),
                u.role.as_str().to_owned(),
                ts(u.created_at),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["ID", "EMAIL", "NAME", "ROLE", "CREATED"], &rows)
    );
    Ok(())
}

/// Runs a `users` command.
///
/// # Errors
/// What the core refuses (with its message), or a store failure.
pub async fn users(gh: &Gatehouse, cmd: UsersCommand) -> anyhow::Result<()> {
    let op = gh.operator();
    match cmd {
        UsersCommand::List(output) => print_users(&gh.list_users(&op, None).await?, output),
        UsersCommand::Create {
            email,
            name,
            role: r,
            password_stdin,
            output,
        } => {
            let (password, generated) = if password_stdin {
                (password_from_stdin()?, false)
            } else {
                (AdminPassword::generate(), true)
            };
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or("").to_owned());
            let user = gh
                .create_user(
                    &op,
                    NewUser {
                        email,
                        name,
                        password: password.clone(),
                        role: Some(role(&r)?),
                        email_verified: None,
                    },
                )
                .await?;
            print_users(std::slice::from_ref(&user), output)?;
            if generated {
                // On stderr with the table on stdout, so `--json | jq` works;
                // shown once, never stored.
                eprintln!("password (shown only once): {password}");
            }
            Ok(())
        }
        UsersCommand::SetPassword { email, .. } => {
            let user = user_by_email(gh, &email).await?;
            let password = password_from_stdin()?;
            let patch = UserPatch {
                password: Some(password),
                ..UserPatch::default()
            };
            gh.update_user(&op, &user.id.to_string(), patch).await?;
            println!("Password of {email} changed; their sessions and grants are revoked.");
            Ok(())
        }
        UsersCommand::SetRole { email, role: r } => {
            let user = user_by_email(gh, &email).await?;
            let patch = UserPatch {
                role: Some(role(&r)?),
                ..UserPatch::default()
            };
            gh.update_user(&op, &user.id.to_string(), patch).await?;
            println!("{email} is now {r}.");
            Ok(())
        }
        UsersCommand::Delete { email } => {
            let user = user_by_email(gh, &email).await?;
            gh.delete_user(&op, &user.id.to_string()).await?;
            println!("Deleted {email}.");
            Ok(())
        }
    }
}

fn print_clients(clients: &[gatehouse_core::model::Client], output: Output) -> anyhow::Result<()> {
    if output.json {
        return print_json(
            &clients
                .iter()
                .map(wire::ClientBody::from)
                .collect::<Vec<_>>(),
        );
    }
    let rows: Vec<Vec<String>> = clients
        .iter()
        .map(|c| {
            vec![
                c.id.as_str().to_owned(),
                c.name.clone(),
                if c.is_confidential() {
                    "confidential"
                } else {
                    "public"
                }
                .to_owned(),
                c.origin.as_str().to_owned(),
                c.allowed_scopes.to_string(),
                ts(c.created_at),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["CLIENT_ID", "NAME", "TYPE", "ORIGIN", "SCOPES", "CREATED"],
            &rows
        )
    );
    Ok(())
}

/// Runs a `clients` command.
///
/// # Errors
/// What the core refuses (with its message), or a store failure.
pub async fn clients(gh: &Gatehouse, cmd: ClientsCommand) -> anyhow::Result<()> {
    let op = gh.operator();
    match cmd {
        ClientsCommand::List(output) => {
            print_clients(&gh.list_clients(&op, &Default::default()).await?, output)
        }
        ClientsCommand::Create(a) => {
            let new = NewClient {
                name: a.name,
                description: a.description,
                redirect_uris: a.redirect_uris,
                allowed_scopes: a
                    .scopes
                    .iter()
                    .flat_map(|s| s.split_whitespace().map(str::to_owned))
                    .collect(),
                is_confidential: !a.public,
                require_pkce: a.no_pkce.then_some(false),
                grant_types: (!a.grant_types.is_empty()).then_some(a.grant_types),
                resource: a.resource,
                exchange_targets: (!a.exchange_targets.is_empty()).then_some(a.exchange_targets),
                default_resource: a.default_resource,
                post_logout_redirect_uris: (!a.post_logout_redirect_uris.is_empty())
                    .then_some(a.post_logout_redirect_uris),
            };
            let (client, secret) = gh.create_client(&op, new).await?;
            if a.output.json {
                return print_json(&[wire::ClientWithSecret::new(
                    &client,
                    secret.as_ref().map(|s| s.expose()),
                )]);
            }
            print_clients(std::slice::from_ref(&client), a.output)?;
            if let Some(s) = secret {
                eprintln!("client_secret (shown only once): {}", s.expose());
            }
            Ok(())
        }
        ClientsCommand::Delete { client_id } => {
            gh.delete_client(&op, &client_id).await?;
            println!("Deleted {client_id}.");
            Ok(())
        }
        ClientsCommand::RotateSecret { client_id, output } => {
            let (client, secret) = gh.rotate_client_secret(&op, &client_id).await?;
            if output.json {
                return print_json(&[wire::ClientWithSecret::new(&client, Some(secret.expose()))]);
            }
            println!("client_secret (shown only once): {}", secret.expose());
            Ok(())
        }
    }
}

/// Runs a `grants` command.
///
/// # Errors
/// An unknown user or client id, or a store failure.
pub async fn grants(gh: &Gatehouse, cmd: GrantsCommand) -> anyhow::Result<()> {
    let GrantsCommand::Revoke { user, client } = cmd;
    let u = user_by_email(gh, &user).await?;
    let client = client
        .map(|c| ClientId::parse(&c).map_err(|e| anyhow::anyhow!("{c}: {}", e.0)))
        .transpose()?;
    let revoked = gh
        .revoke_user_grants(&gh.operator(), u.id, client.as_ref())
        .await?;
    match client {
        Some(c) => println!("Revoked {revoked} grant(s) {user} gave {}.", c.as_str()),
        None => println!("Revoked {revoked} grant(s) of {user} and ended their sessions."),
    }
    Ok(())
}

/// A signing key as `keys list --json` prints it.
#[derive(Serialize)]
struct KeyBody {
    kid: String,
    created_at: String,
    retired_at: Option<String>,
    active: bool,
}

/// Runs a `keys` command.
///
/// # Errors
/// Store failures, or a master key that cannot open the stored keys.
pub async fn keys(gh: &Gatehouse, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::List(output) => {
            let keys = gh.ports().keys.signing_keys().await?;
            let active = keys
                .iter()
                .find(|k| k.retired_at.is_none())
                .map(|k| k.kid.clone());
            let bodies: Vec<KeyBody> = keys
                .iter()
                .map(|k| KeyBody {
                    kid: k.kid.clone(),
                    created_at: ts(k.created_at),
                    retired_at: k.retired_at.map(ts),
                    active: Some(&k.kid) == active.as_ref(),
                })
                .collect();
            if output.json {
                return print_json(&bodies);
            }
            let rows: Vec<Vec<String>> = bodies
                .into_iter()
                .map(|k| {
                    vec![
                        k.kid,
                        if k.active { "active" } else { "retired" }.to_owned(),
                        k.created_at,
                        k.retired_at.unwrap_or_default(),
                    ]
                })
                .collect();
            print!("{}", table(&["KID", "STATE", "CREATED", "RETIRED"], &rows));
            Ok(())
        }
        KeysCommand::Rotate => {
            let kid = gh.rotate_signing_key().await?;
            println!("New signing key {kid} is active.");
            Ok(())
        }
    }
}

/// Runs `audit`.
///
/// # Errors
/// A malformed filter, an unknown user, or a store failure.
pub async fn audit(gh: &Gatehouse, a: AuditArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=MAX_PAGE).contains(&a.limit),
        "--limit must be between 1 and {MAX_PAGE}"
    );
    let kind = a
        .kind
        .as_deref()
        .map(|k| {
            AuditKind::parse(k).ok_or_else(|| {
                let known: Vec<&str> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
                anyhow::anyhow!("--type must be one of: {}", known.join(", "))
            })
        })
        .transpose()?;
    let user_id = match &a.user {
        Some(email) => Some(user_by_email(gh, email).await?.id),
        None => None,
    };
    let client_id = a
        .client
        .map(|c| ClientId::parse(&c).map_err(|e| anyhow::anyhow!("{c}: {}", e.0)))
        .transpose()?;
    let page = gh
        .audit_page(&AuditQuery {
            kind,
            user_id,
            client_id,
            before: None,
            limit: a.limit,
        })
        .await?;
    if a.output.json {
        return print_json(&wire::AuditEvents::from(&page).events);
    }
    let rows: Vec<Vec<String>> = page
        .events
        .iter()
        .map(|e| {
            vec![
                ts(e.at),
                e.kind.as_str().to_owned(),
                e.user_id.map(|u| u.to_string()).unwrap_or_default(),
                e.client_id
                    .as_ref()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                e.ip.map(|i| i.to_string()).unwrap_or_default(),
                e.details.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["AT", "TYPE", "USER", "CLIENT", "IP", "DETAILS"], &rows)
    );
    Ok(())
}

/// `gatehouse backup PATH`: a consistent copy of a live SQLite database.
///
/// # Errors
/// Not SQLite, an existing `path`, or the copy failed.
pub async fn backup(config: &Config, path: &Path) -> anyhow::Result<PathBuf> {
    match &config.database_url {
        DatabaseUrl::Sqlite(db) => {
            gatehouse_store_sqlite::backup(db, path).await?;
            Ok(path.to_owned())
        }
        DatabaseUrl::Postgres(_) => anyhow::bail!(
            "gatehouse backup copies SQLite databases; for PostgreSQL use pg_dump \
             (for example: pg_dump --format=custom --file=gatehouse.dump \"$GATEHOUSE_DATABASE_URL\")"
        ),
        DatabaseUrl::Memory => {
            anyhow::bail!("the memory store keeps nothing to back up")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns_and_say_when_empty() {
        let t = table(
            &["ID", "NAME"],
            &[
                vec!["1".into(), "Ann".into()],
                vec!["22".into(), "Bo".into()],
            ],
        );
        assert_eq!(t, "ID  NAME\n1   Ann\n22  Bo\n");
        assert_eq!(table(&["ID"], &[]), "ID\n(none)\n");
    }
}
