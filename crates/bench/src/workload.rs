//! The workloads: what one worker sets up before the clock starts, and the
//! one operation it then repeats. Every request is plain OAuth, so the same
//! code drives any authorization server.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use reqwest::cookie::Jar;
use ring::rand::SystemRandom;
use serde::{Deserialize, Serialize};

use crate::oauth::{self, AuthorizeParams, Credentials, Endpoints, Pkce, TokenResponse};
use crate::signin::SignIn;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Token requests with `grant_type=client_credentials` (secret in the
    /// body) for one resource: JWT access tokens.
    ClientCredentials,
    /// Independent refresh-token chains: each request presents the refresh
    /// token the previous response returned.
    Refresh,
    /// Complete authorization-code + PKCE flows for a signed-in user with
    /// remembered consent: authorize → redirect with code → token. One
    /// operation is the whole flow (two requests).
    CodeFlow,
    /// Introspection (RFC 7662) of a valid user access token.
    Introspect,
    /// `GET userinfo` with a user access token.
    Userinfo,
    /// `GET` the metadata document (framework baseline).
    Discovery,
    /// `GET jwks_uri` (framework baseline).
    Jwks,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 7] = [
        Workload::ClientCredentials,
        Workload::Refresh,
        Workload::CodeFlow,
        Workload::Introspect,
        Workload::Userinfo,
        Workload::Discovery,
        Workload::Jwks,
    ];

    /// The name `--workload` takes.
    pub fn name(self) -> &'static str {
        match self {
            Workload::ClientCredentials => "client-credentials",
            Workload::Refresh => "refresh",
            Workload::CodeFlow => "code-flow",
            Workload::Introspect => "introspect",
            Workload::Userinfo => "userinfo",
            Workload::Discovery => "discovery",
            Workload::Jwks => "jwks",
        }
    }
}

/// Everything a worker needs to know about the server under test.
#[derive(Debug)]
pub struct Ctx {
    /// The workload.
    pub workload: Workload,
    /// From the metadata document.
    pub endpoints: Endpoints,
    /// The user-flow client (code, refresh).
    pub app: Credentials,
    /// The introspecting client.
    pub introspector: Credentials,
    /// Authorization requests for resource tokens (code-flow, refresh).
    pub resource_request: AuthorizeParams,
    /// Authorization requests for user tokens (userinfo, introspect).
    pub user_request: AuthorizeParams,
    /// How workers sign in.
    pub sign_in: SignIn,
    /// The client-credentials request body, built once.
    pub cc_body: String,
    /// Per-request timeout.
    pub timeout: std::time::Duration,
    /// Random source for PKCE.
    pub rng: SystemRandom,
    /// One cookie jar per signed-in session; worker `i` uses
    /// `jars[i % jars.len()]`.
    pub jars: Vec<Arc<Jar>>,
}

/// One connection's worth of state.
#[derive(Debug)]
pub struct Worker {
    /// This worker's client: one keep-alive connection, its own cookie jar.
    pub http: reqwest::Client,
    id: usize,
    seq: u64,
    /// The refresh token to present next, or the access token to use.
    token: String,
}

/// Why an operation failed.
#[derive(Debug)]
pub enum Failure {
    /// An HTTP status the operation does not expect.
    Status(u16, String),
    /// Anything else: transport errors, malformed or negative answers.
    Error(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status(s, what) => write!(f, "HTTP {s}: {what}"),
            Failure::Error(e) => f.write_str(e),
        }
    }
}

impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Self {
        Failure::Error(format!("{e}"))
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Error(format!("{e:#}"))
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

impl Ctx {
    /// A worker's HTTP client: no redirect following (the flows read
    /// `Location`), keep-alive, no proxy.
    ///
    /// # Errors
    /// The client cannot be built.
    pub fn client(&self, id: usize) -> anyhow::Result<reqwest::Client> {
        let jar = self.jars[id % self.jars.len().max(1)].clone();
        let b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1)
            .timeout(self.timeout);
        Ok(self.sign_in.configure(b, jar)?.build()?)
    }

    /// Prepares worker `id`: signs in (the first worker of each session) or
    /// uses its session, and obtains the tokens its workload presents. Not
    /// measured.
    ///
    /// # Errors
    /// Sign-in or the first token request failed.
    pub async fn setup(&self, id: usize) -> anyhow::Result<Worker> {
        let mut w = Worker {
            http: self.client(id)?,
            id,
            seq: 0,
            token: String::new(),
        };
        match self.workload {
            Workload::Refresh => {
                let t = self.user_tokens(&mut w, &self.resource_request).await?;
                w.token = t
                    .refresh_token
                    .context("the code grant returned no refresh token")?;
            }
            Workload::CodeFlow => {
                // The first flow signs in and remembers consent.
                self.user_tokens(&mut w, &self.resource_request).await?;
            }
            Workload::Introspect | Workload::Userinfo => {
                w.token = self
                    .user_tokens(&mut w, &self.user_request)
                    .await?
                    .access_token;
            }
            Workload::ClientCredentials | Workload::Discovery | Workload::Jwks => {}
        }
        Ok(w)
    }

    /// Signs in (first time) or uses the session, then redeems the code.
    async fn user_tokens(
        &self,
        w: &mut Worker,
        request: &AuthorizeParams,
    ) -> anyhow::Result<TokenResponse> {
        let pkce = Pkce::generate(&self.rng)?;
        let state = w.next_state();
        let url = request.url(&self.endpoints.authorization, &state, &pkce);
        let code = self
            .sign_in
            .code(&w.http, url, &request.redirect_uri, &state)
            .await?;
        self.redeem(w, &code, &pkce, request)
            .await
            .map_err(|f| anyhow::anyhow!("redeeming the first code: {f}"))
    }

    async fn redeem(
        &self,
        w: &Worker,
        code: &str,
        pkce: &Pkce,
        request: &AuthorizeParams,
    ) -> Result<TokenResponse, Failure> {
        let body = oauth::form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &request.redirect_uri),
            ("code_verifier", &pkce.verifier),
            ("client_id", &self.app.id),
            ("client_secret", &self.app.secret),
        ]);
        token_call(&w.http, self.endpoints.token.clone(), body).await
    }

    /// One measured operation.
    ///
    /// # Errors
    /// The [`Failure`] to count.
    pub async fn step(&self, w: &mut Worker) -> Result<(), Failure> {
        match self.workload {
            Workload::ClientCredentials => {
                token_call(&w.http, self.endpoints.token.clone(), self.cc_body.clone()).await?;
                Ok(())
            }
            Workload::Refresh => {
                let body = oauth::form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &w.token),
                    ("client_id", &self.app.id),
                    ("client_secret", &self.app.secret),
                ]);
                match token_call(&w.http, self.endpoints.token.clone(), body).await {
                    Ok(t) => match t.refresh_token {
                        Some(rt) => {
                            w.token = rt;
                            Ok(())
                        }
                        None => Err(Failure::Error("refresh returned no refresh token".into())),
                    },
                    Err(f) => {
                        // The chain is broken; start a new one so the run
                        // goes on (it has failed already).
                        if let Ok(t) = self.user_tokens(w, &self.resource_request).await
                            && let Some(rt) = t.refresh_token
                        {
                            w.token = rt;
                        }
                        Err(f)
                    }
                }
            }
            Workload::CodeFlow => {
                let pkce = Pkce::generate(&self.rng)?;
                let state = w.next_state();
                let url = self
                    .resource_request
                    .url(&self.endpoints.authorization, &state, &pkce);
                let res = w.http.get(url).send().await?;
                let status = res.status();
                if !status.is_redirection() {
                    let body = res.text().await.unwrap_or_default();
                    return Err(Failure::Status(
                        status.as_u16(),
                        format!("authorize did not redirect: {}", snippet(&body)),
                    ));
                }
                let next = oauth::location(&res)?;
                drop(res.bytes().await);
                if !next
                    .as_str()
                    .starts_with(&self.resource_request.redirect_uri)
                {
                    return Err(Failure::Error(format!(
                        "authorize redirected elsewhere (consent not remembered?): {}",
                        next.path()
                    )));
                }
                let code = oauth::code_from_redirect(&next, &state)?;
                self.redeem(w, &code, &pkce, &self.resource_request).await?;
                Ok(())
            }
            Workload::Introspect => {
                let endpoint = self
                    .endpoints
                    .introspection
                    .clone()
                    .ok_or_else(|| Failure::Error("no introspection_endpoint".into()))?;
                let body = oauth::form(&[
                    ("token", &w.token),
                    ("client_id", &self.introspector.id),
                    ("client_secret", &self.introspector.secret),
                ]);
                let res = w
                    .http
                    .post(endpoint)
                    .header(reqwest::header::CONTENT_TYPE, FORM)
                    .body(body)
                    .send()
                    .await?;
                let status = res.status();
                let bytes = res.bytes().await?;
                if status != reqwest::StatusCode::OK {
                    return Err(Failure::Status(status.as_u16(), snippet_bytes(&bytes)));
                }
                #[derive(Deserialize)]
                struct Introspection {
                    active: bool,
                }
                let doc: Introspection = serde_json::from_slice(&bytes)
                    .map_err(|e| Failure::Error(format!("introspection response: {e}")))?;
                if doc.active {
                    Ok(())
                } else {
                    Err(Failure::Error(
                        "a valid token introspected as inactive".into(),
                    ))
                }
            }
            Workload::Userinfo => {
                let endpoint = self
                    .endpoints
                    .userinfo
                    .clone()
                    .ok_or_else(|| Failure::Error("no userinfo_endpoint".into()))?;
                let res = w.http.get(endpoint).bearer_auth(&w.token).send().await?;
                expect_ok(res).await
            }
            Workload::Discovery => {
                let res = w.http.get(self.endpoints.metadata.clone()).send().await?;
                expect_ok(res).await
            }
            Workload::Jwks => {
                let res = w.http.get(self.endpoints.jwks.clone()).send().await?;
                expect_ok(res).await
            }
        }
    }
}

impl Worker {
    fn next_state(&mut self) -> String {
        self.seq += 1;
        format!("w{}-{}", self.id, self.seq)
    }
}

async fn expect_ok(res: reqwest::Response) -> Result<(), Failure> {
    let status = res.status();
    let bytes = res.bytes().await?;
    if status.is_success() {
        Ok(())
    } else {
        Err(Failure::Status(status.as_u16(), snippet_bytes(&bytes)))
    }
}

async fn token_call(
    http: &reqwest::Client,
    endpoint: url::Url,
    body: String,
) -> Result<TokenResponse, Failure> {
    let res = http
        .post(endpoint)
        .header(reqwest::header::CONTENT_TYPE, FORM)
        .body(body)
        .send()
        .await?;
    let status = res.status();
    let bytes = res.bytes().await?;
    if status != reqwest::StatusCode::OK {
        return Err(Failure::Status(status.as_u16(), snippet_bytes(&bytes)));
    }
    serde_json::from_slice(&bytes).map_err(|e| Failure::Error(format!("token response: {e}")))
}

fn snippet(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn snippet_bytes(b: &[u8]) -> String {
    snippet(&String::from_utf8_lossy(b))
}

/// The client-credentials body: `client_secret_post`, one resource.
pub fn client_credentials_body(
    machine: &Credentials,
    resource: Option<&str>,
    scope: Option<&str>,
) -> String {
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_id", machine.id.as_str()),
        ("client_secret", machine.secret.as_str()),
    ];
    if let Some(r) = resource {
        pairs.push(("resource", r));
    }
    if let Some(s) = scope {
        pairs.push(("scope", s));
    }
    oauth::form(&pairs)
}

/// Checks the arguments a workload needs before any request is sent.
///
/// # Errors
/// What is missing.
pub fn check_ready(ctx: &Ctx) -> anyhow::Result<()> {
    match ctx.workload {
        Workload::Introspect if ctx.endpoints.introspection.is_none() => {
            bail!("the server's metadata names no introspection_endpoint")
        }
        Workload::Userinfo if ctx.endpoints.userinfo.is_none() => {
            bail!("the server's metadata names no userinfo_endpoint")
        }
        _ => Ok(()),
    }
}
