//! `gatehouse-bench provision-gatehouse`: what an operator would click
//! through before the benchmark, done through Gatehouse's admin API: a
//! protected resource, a code+refresh client, a machine client and a user.
//! (The peer gets the same from its configuration file.)

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::{Value, json};

/// Arguments of `provision-gatehouse`.
#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// Gatehouse's base URL (`GATEHOUSE_PUBLIC_URL`).
    #[arg(long)]
    pub base: String,
    /// The administrator's email.
    #[arg(long)]
    pub admin_email: String,
    /// The administrator's password.
    #[arg(long, env = "BENCH_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: String,
    /// The resource to register (RFC 8707).
    #[arg(long, default_value = "https://mcp.bench.example/mcp")]
    pub resource: String,
    /// The code client's redirect URI.
    #[arg(long, default_value = "http://localhost:8000/oauth/callback")]
    pub redirect_uri: String,
    /// The benchmark user's email.
    #[arg(long, default_value = "bench@example.com")]
    pub user_email: String,
    /// The benchmark user's password.
    #[arg(long, env = "BENCH_PASSWORD", hide_env_values = true)]
    pub user_password: String,
}

/// Entry point: prints `NAME='value'` lines for `eval`.
///
/// # Errors
/// Any admin call that does not succeed.
pub fn main(args: ProvisionArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(provision(&args))?;
    for (k, v) in out {
        if v.contains('\'') {
            bail!("{k} contains a quote");
        }
        println!("{k}='{v}'");
    }
    Ok(ExitCode::SUCCESS)
}

/// POSTs `body`; a 409 (the record exists from an earlier start on the
/// same database) is `Value::Null` when `existing_ok`.
async fn call_or_existing(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
    existing_ok: bool,
) -> anyhow::Result<Value> {
    let mut req = http.post(&url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.with_context(|| format!("POST {url}"))?;
    let status = res.status();
    let text = res.text().await?;
    if existing_ok && status == reqwest::StatusCode::CONFLICT {
        return Ok(Value::Null);
    }
    if !status.is_success() {
        bail!("POST {url} answered {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("POST {url}: not JSON"))
}

async fn call(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> anyhow::Result<Value> {
    call_or_existing(http, url, token, body, false).await
}

fn field(v: &Value, path: &[&str]) -> anyhow::Result<String> {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str()
        .map(str::to_owned)
        .with_context(|| format!("no {} in {v}", path.join(".")))
}

async fn provision(a: &ProvisionArgs) -> anyhow::Result<Vec<(&'static str, String)>> {
    let http = reqwest::Client::builder().no_proxy().build()?;
    let base = a.base.trim_end_matches('/');
    let login = call(
        &http,
        format!("{base}/api/v1/auth/login"),
        None,
        json!({"email": a.admin_email, "password": a.admin_password}),
    )
    .await?;
    let admin = field(&login, &["access_token"])?;
    // A durable store keeps the resource and user between starts.
    call_or_existing(
        &http,
        format!("{base}/api/v1/oauth/resources"),
        Some(&admin),
        json!({"resource": a.resource, "name": "Bench MCP server", "scopes": ["files:read", "files:write"]}),
        true,
    )
    .await?;
    let app = call(
        &http,
        format!("{base}/api/v1/oauth/clients"),
        Some(&admin),
        json!({
            "name": "Bench app",
            "redirect_uris": [a.redirect_uri],
            "allowed_scopes": ["profile", "email", "files:read", "files:write"],
            "is_confidential": true,
            "grant_types": ["authorization_code", "refresh_token"],
        }),
    )
    .await?;
    let machine = call(
        &http,
        format!("{base}/api/v1/oauth/clients"),
        Some(&admin),
        json!({
            "name": "Bench machine",
            "redirect_uris": [],
            "allowed_scopes": ["files:read"],
            "is_confidential": true,
            "grant_types": ["client_credentials"],
        }),
    )
    .await?;
    call_or_existing(
        &http,
        format!("{base}/api/v1/users/"),
        Some(&admin),
        json!({"email": a.user_email, "name": "Bench User", "password": a.user_password}),
        true,
    )
    .await?;
    Ok(vec![
        ("APP_CLIENT_ID", field(&app, &["client", "client_id"])?),
        (
            "APP_CLIENT_SECRET",
            field(&app, &["client", "client_secret"])?,
        ),
        (
            "MACHINE_CLIENT_ID",
            field(&machine, &["client", "client_id"])?,
        ),
        (
            "MACHINE_CLIENT_SECRET",
            field(&machine, &["client", "client_secret"])?,
        ),
    ])
}
