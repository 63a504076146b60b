//! `gatehouse doctor MCP_URL`: checks an MCP server's OAuth setup against
//! this Gatehouse the way real MCP clients discover it, and says in one
//! sentence how to fix each mismatch.
//!
//! Most first-hour failures are configuration that nothing explains: an
//! issuer that differs by a trailing slash, a resource URI that is not in
//! canonical form or not registered, metadata at the wrong well-known path,
//! a challenge without `resource_metadata`. Each check here is one of
//! those, and the closing table predicts, per client, whether it connects.

use std::collections::BTreeSet;
use std::time::Duration;

use gatehouse_core::Gatehouse;
use gatehouse_core::resource::canonical_resource;
use serde::Serialize;
use serde_json::Value;

use crate::Config;
use crate::config::DatabaseUrl;

/// Time limit of every request the doctor makes.
const TIMEOUT: Duration = Duration::from_secs(5);
/// An origin a browser-based client (MCP Inspector) would send.
const BROWSER_ORIGIN: &str = "http://localhost:6274";

/// One check: what was looked at, whether it holds, and the fix if not.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// A stable identifier, for `--json` consumers.
    pub id: &'static str,
    /// What is checked, as a sentence.
    pub title: String,
    /// Whether it holds.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
    /// One sentence on how to fix it (empty when it holds).
    pub fix: String,
}

/// Whether one kind of client will connect, and why not.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    /// The client profile.
    pub client: &'static str,
    /// Whether it will connect.
    pub connects: bool,
    /// The checks it depends on that fail.
    pub blocked_by: Vec<&'static str>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The MCP server's URL as given.
    pub mcp_url: String,
    /// This Gatehouse's issuer.
    pub issuer: String,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Per client profile.
    pub clients: Vec<Prediction>,
}

impl Report {
    /// Whether every check holds (the exit status).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The report for a terminal: a line per check with ✓ or ✗ and the
    /// fix, then the table of clients.
    pub fn render(&self) -> String {
        let mut out = format!(
            "gatehouse doctor {}\n  issuer {}\n\n",
            self.mcp_url, self.issuer
        );
        for c in &self.checks {
            out.push_str(&format!(
                "{} {}\n    {}\n",
                if c.ok { "✓" } else { "✗" },
                c.title,
                c.detail
            ));
            if !c.ok {
                out.push_str(&format!("    fix: {}\n", c.fix));
            }
        }
        out.push('\n');
        let width = self
            .clients
            .iter()
            .map(|p| p.client.len())
            .max()
            .unwrap_or(0);
        for p in &self.clients {
            let verdict = if p.connects {
                "will connect".to_owned()
            } else {
                format!("will not connect: {}", p.blocked_by.join(", "))
            };
            out.push_str(&format!("  {:width$}  {verdict}\n", p.client));
        }
        out
    }
}

struct Checks(Vec<Check>);

impl Checks {
    fn add(
        &mut self,
        id: &'static str,
        title: impl Into<String>,
        ok: bool,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> bool {
        self.0.push(Check {
            id,
            title: title.into(),
            ok,
            detail: detail.into(),
            fix: if ok { String::new() } else { fix.into() },
        });
        ok
    }

    fn failed(&self, id: &str) -> bool {
        self.0.iter().any(|c| c.id == id && !c.ok)
    }
}

/// The RFC 9728 metadata URL with the well-known segment inserted before
/// the path (`/.well-known/oauth-protected-resource/mcp`).
fn path_inserted(url: &url::Url) -> String {
    let path = url.path().trim_end_matches('/');
    format!(
        "{}/.well-known/oauth-protected-resource{path}",
        url.origin().ascii_serialization()
    )
}

/// `name="value"` parameters of a `WWW-Authenticate: Bearer` challenge.
fn challenge_param(header: &str, name: &str) -> Option<String> {
    let rest = header.trim();
    let rest = rest
        .get(..6)
        .filter(|s| s.eq_ignore_ascii_case("bearer"))
        .map(|_| &rest[6..])?;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        if k.trim().eq_ignore_ascii_case(name) {
            return Some(v.trim().trim_matches('"').to_owned());
        }
    }
    None
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Fetches a JSON document; `Err` says what went wrong in a phrase.
async fn get_json(
    http: &reqwest::Client,
    url: &str,
    origin: Option<&str>,
) -> Result<(Value, reqwest::header::HeaderMap), String> {
    let mut req = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(o) = origin {
        req = req.header(reqwest::header::ORIGIN, o);
    }
    let res = req
        .send()
        .await
        .map_err(|e| format!("unreachable ({})", e.without_url()))?;
    let status = res.status();
    let headers = res.headers().clone();
    if !status.is_success() {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    let body = res.json().await.map_err(|_| "not JSON".to_owned())?;
    Ok((body, headers))
}

/// Runs every check against the MCP server at `mcp_url`, with `config`
/// (the server's configuration: its public URL, and its store for the
/// resource registry).
///
/// # Errors
/// Only an unusable URL or HTTP client; everything else is a failed check.
pub async fn diagnose(config: &Config, mcp_url: &str) -> anyhow::Result<Report> {
    let url = url::Url::parse(mcp_url).map_err(|e| anyhow::anyhow!("MCP_URL {mcp_url:?}: {e}"))?;
    let tls = crate::fetch::client_tls(config.extra_ca_file.as_deref())?;
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .user_agent(concat!("gatehouse-doctor/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let base = config.base_url(config.addr);
    let issuer = format!("{base}/api/v1/oauth");
    let mut c = Checks(Vec::new());

    // The URL itself.
    let secure = url.scheme() == "https" || (url.scheme() == "http" && is_loopback(&url));
    c.add(
        "transport",
        "the MCP URL is https, or http on loopback",
        secure,
        format!("{}://{}", url.scheme(), url.host_str().unwrap_or("")),
        "serve the MCP server over https (MCP clients and Gatehouse refuse http resources off loopback)",
    );
    let canonical = canonical_resource(mcp_url).ok();

    // Gatehouse's own metadata at PUBLIC_URL.
    let as_url = format!("{base}/.well-known/oauth-authorization-server/api/v1/oauth");
    let as_meta = get_json(&http, &as_url, None).await;
    let as_ok = matches!(&as_meta, Ok((m, _)) if m["issuer"] == issuer.as_str());
    c.add(
        "gatehouse_metadata",
        "Gatehouse's metadata is served at its public URL and names this issuer",
        as_ok,
        match &as_meta {
            Ok((m, _)) => format!("{as_url}: issuer {}", m["issuer"]),
            Err(e) => format!("{as_url}: {e}"),
        },
        "set GATEHOUSE_PUBLIC_URL to the URL clients reach Gatehouse at, and make sure it is running there",
    );

    // What an unauthenticated client gets.
    let init = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "gatehouse-doctor", "version": env!("CARGO_PKG_VERSION")}}});
    let first = http
        .post(mcp_url)
        .header(
            reqwest::header::ACCEPT,
            "application/json, text/event-stream",
        )
        .json(&init)
        .send()
        .await;
    let first = first.map_err(|e| e.without_url().to_string());
    let (status, challenge) = match &first {
        Ok(r) => (
            Some(r.status().as_u16()),
            r.headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ),
        Err(_) => (None, None),
    };
    c.add(
        "unauthenticated_401",
        "a request without a token gets 401",
        status == Some(401),
        match (&first, status) {
            (Err(e), _) => format!("unreachable ({e})"),
            (_, Some(s)) => format!("HTTP {s}"),
            _ => String::new(),
        },
        "put the token check (gatehouse-resource's BearerAuthLayer) in front of the MCP endpoint, answering 401 when no token is sent",
    );
    let header_metadata = challenge
        .as_deref()
        .and_then(|h| challenge_param(h, "resource_metadata"));
    c.add(
        "challenge_resource_metadata",
        "the 401 challenge names resource_metadata (RFC 9728 §5.1)",
        header_metadata.is_some(),
        challenge.clone().unwrap_or_else(|| "no WWW-Authenticate header".into()),
        "answer 401 with WWW-Authenticate: Bearer resource_metadata=\"<metadata URL>\" (gatehouse-resource's Challenge builds it)",
    );

    // RFC 9728 metadata: where the header points, and the well-known
    // locations clients try without it.
    let inserted = path_inserted(&url);
    let root = format!(
        "{}/.well-known/oauth-protected-resource",
        url.origin().ascii_serialization()
    );
    let at_inserted = get_json(&http, &inserted, None).await;
    let at_root = get_json(&http, &root, None).await;
    c.add(
        "metadata_path_inserted",
        "protected-resource metadata at the path-inserted location",
        at_inserted.is_ok(),
        match &at_inserted {
            Ok(_) => inserted.clone(),
            Err(e) => format!("{inserted}: {e}"),
        },
        format!("serve the metadata at {inserted} (clients that get no resource_metadata look there first)"),
    );
    let from_header = match &header_metadata {
        Some(u) => Some((u.clone(), get_json(&http, u, None).await)),
        None => None,
    };
    if let Some((u, r)) = &from_header {
        c.add(
            "metadata_from_challenge",
            "the metadata the challenge points at can be fetched",
            r.is_ok(),
            match r {
                Ok(_) => u.clone(),
                Err(e) => format!("{u}: {e}"),
            },
            "make resource_metadata in the challenge the URL the metadata is really served at",
        );
    }
    // Where a client finds it: the challenge's URL, else the well-known
    // locations in the order clients try them.
    let found = from_header
        .as_ref()
        .and_then(|(u, r)| r.as_ref().ok().map(|(d, _)| (u.clone(), d.clone())))
        .or_else(|| {
            at_inserted
                .as_ref()
                .ok()
                .map(|(d, _)| (inserted.clone(), d.clone()))
        })
        .or_else(|| {
            at_root
                .as_ref()
                .ok()
                .map(|(d, _)| (root.clone(), d.clone()))
        });
    let (doc_url, doc) = match found {
        Some((u, d)) => (Some(u), Some(d)),
        None => (None, None),
    };
    let doc_found = c.add(
        "metadata_found",
        "a client finds the protected-resource metadata",
        doc.is_some(),
        if doc.is_some() {
            "found"
        } else {
            "not at the challenge's URL, the path-inserted or the root location"
        },
        format!("serve RFC 9728 metadata at {inserted}"),
    );
    let doc = doc.unwrap_or(Value::Null);
    let resource = doc["resource"].as_str().unwrap_or_default().to_owned();
    if doc_found {
        c.add(
            "resource_matches_url",
            "the metadata's resource is the URL clients connect to",
            canonical.as_deref() == Some(resource.as_str()) || resource == mcp_url,
            format!("resource {resource:?}, URL {mcp_url:?}"),
            format!(
                "set the metadata's resource (MCP_RESOURCE_URL) to {}",
                canonical.as_deref().unwrap_or(mcp_url)
            ),
        );
        let canon = canonical_resource(&resource).ok();
        c.add(
            "resource_canonical",
            "the resource is in canonical form (lower-case scheme and host, no default port, no trailing slash)",
            canon.as_deref() == Some(resource.as_str()),
            format!("{resource:?}"),
            format!(
                "use {} everywhere: Gatehouse puts the canonical form in aud, and the server compares byte for byte",
                canon.as_deref().unwrap_or("an absolute https URL without fragment")
            ),
        );
        let servers: Vec<&str> = doc["authorization_servers"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        c.add(
            "authorization_servers_issuer",
            "authorization_servers names this issuer byte for byte",
            servers.contains(&issuer.as_str()),
            format!("{servers:?}"),
            format!("set authorization_servers to [\"{issuer}\"] (GATEHOUSE_ISSUER of the MCP server), exactly"),
        );
        let cors = match &doc_url {
            Some(u) => match get_json(&http, u, Some(BROWSER_ORIGIN)).await {
                Ok((_, h)) => h
                    .get(reqwest::header::ACCESS_CONTROL_ALLOW_ORIGIN)
                    .is_some(),
                Err(_) => false,
            },
            None => false,
        };
        c.add(
            "metadata_cors",
            "the metadata allows cross-origin reads (browser clients such as MCP Inspector)",
            cors,
            if cors { "Access-Control-Allow-Origin present" } else { "no Access-Control-Allow-Origin on the metadata" },
            "answer the metadata (and the 401) with Access-Control-Allow-Origin: * and expose WWW-Authenticate",
        );
    }

    // Gatehouse's side: the resource registry.
    let scopes: BTreeSet<String> = doc["scopes_supported"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let key = canonical_resource(&resource).unwrap_or(resource.clone());
    match store(config).await {
        Err(why) => {
            c.add(
                "resource_registered",
                "the resource is registered in Gatehouse",
                false,
                why,
                "run the doctor with the server's GATEHOUSE_DATABASE_URL (its SQLite file or PostgreSQL database)",
            );
        }
        Ok(gh) => {
            let registered = gh
                .ports()
                .resources
                .get_resource_by_uri(&key)
                .await
                .ok()
                .flatten();
            c.add(
                "resource_registered",
                "the resource is registered in Gatehouse",
                registered.is_some(),
                format!("{key:?}"),
                format!("register it: POST /api/v1/oauth/resources {{\"resource\": \"{key}\", \"name\": …, \"scopes\": [...]}}"),
            );
            if let Some(r) = &registered {
                let accepted: BTreeSet<String> = r.scopes.iter().map(str::to_owned).collect();
                let missing: Vec<&String> = scopes
                    .difference(&accepted)
                    .filter(|s| *s != "offline_access")
                    .collect();
                c.add(
                    "scopes_covered",
                    "the registered resource accepts every scope in scopes_supported",
                    missing.is_empty(),
                    if missing.is_empty() { format!("{} scopes", scopes.len()) } else { format!("not accepted: {missing:?}") },
                    "add the missing scopes to the resource (PATCH /api/v1/oauth/resources/{id}), or drop them from scopes_supported",
                );
                let platform: Vec<&String> = scopes
                    .iter()
                    .filter(|s| {
                        gatehouse_core::scope::describe(s).is_some()
                            && *s != "mcp:connect"
                            && *s != "offline_access"
                    })
                    .collect();
                if !platform.is_empty() {
                    let clients = gh.ports().clients.list_clients().await.unwrap_or_default();
                    let exchanger = clients.iter().find(|cl| {
                        cl.is_confidential()
                            && cl.may_use(gatehouse_core::model::GrantType::TokenExchange)
                            && cl.served_resource().as_deref() == Some(key.as_str())
                    });
                    c.add(
                        "exchange_client",
                        "a token-exchange client serves this resource (it asks for platform scopes)",
                        exchanger.is_some(),
                        match exchanger {
                            Some(cl) => format!("{} ({})", cl.id.as_str(), cl.name),
                            None => format!("platform scopes {platform:?}, no confidential client with token exchange and resource = {key}"),
                        },
                        "create one: gatehouse clients create --name <server> --grant-type urn:ietf:params:oauth:grant-type:token-exchange --resource <the resource> --scope <platform scopes>, and give its id and secret to the MCP server",
                    );
                }
                // Informational, not a failure: many deployments serve
                // several MCP servers and only one can be the default.
                let default_ok = gh.settings().default_resource.as_deref() == Some(key.as_str());
                c.0.push(Check {
                    id: "default_resource",
                    title: "clients that send no resource (informational)".into(),
                    ok: true,
                    detail: if default_ok {
                        "GATEHOUSE_DEFAULT_RESOURCE names this server: they get a token for it".into()
                    } else {
                        "GATEHOUSE_DEFAULT_RESOURCE does not name this server: self-registered clients that send no resource get a platform-API token it refuses; set it to this resource if it is the main MCP server".into()
                    },
                    fix: String::new(),
                });
            }
        }
    }

    let clients = predict(&c);
    Ok(Report {
        mcp_url: mcp_url.to_owned(),
        issuer,
        checks: c.0,
        clients,
    })
}

/// Which checks each client depends on.
fn predict(c: &Checks) -> Vec<Prediction> {
    let common = [
        "transport",
        "gatehouse_metadata",
        "unauthenticated_401",
        "metadata_found",
        "resource_matches_url",
        "resource_canonical",
        "authorization_servers_issuer",
        "resource_registered",
        "scopes_covered",
    ];
    let needs = |extra: &[&'static str]| -> Vec<&'static str> {
        common
            .iter()
            .chain(extra)
            .copied()
            .filter(|id| c.failed(id))
            .collect()
    };
    let no_resource_default =
        c.0.iter()
            .find(|x| x.id == "default_resource")
            .is_some_and(|x| x.detail.starts_with("GATEHOUSE_DEFAULT_RESOURCE names"));
    let mut out = vec![
        Prediction {
            client: "MCP Python SDK",
            connects: false,
            blocked_by: needs(&[]),
        },
        // The TypeScript SDK (and the Inspector built on it) fetches the
        // challenge's resource_metadata and gives up if that fails; the
        // Python SDK falls back to the well-known locations.
        Prediction {
            client: "MCP TypeScript SDK",
            connects: false,
            blocked_by: needs(&["metadata_from_challenge"]),
        },
        Prediction {
            client: "MCP Inspector (browser)",
            connects: false,
            blocked_by: needs(&[
                "metadata_cors",
                "challenge_resource_metadata",
                "metadata_from_challenge",
            ]),
        },
    ];
    let mut no_resource = needs(&[]);
    if !no_resource_default {
        no_resource.push("GATEHOUSE_DEFAULT_RESOURCE does not name this server");
    }
    out.push(Prediction {
        client: "clients that send no resource",
        connects: false,
        blocked_by: no_resource,
    });
    for p in &mut out {
        p.connects = p.blocked_by.is_empty();
    }
    out
}

/// The store the server runs on; the memory store lives inside the server
/// process and cannot be read from here.
async fn store(config: &Config) -> Result<Gatehouse, String> {
    match &config.database_url {
        DatabaseUrl::Memory => {
            return Err(
                "GATEHOUSE_DATABASE_URL is the memory store, which only the running server can read"
                    .into(),
            );
        }
        // Opening a missing file would create an empty database here and
        // report everything unregistered.
        DatabaseUrl::Sqlite(path) if !path.exists() => {
            return Err(format!(
                "no SQLite database at {} (the doctor must read the server's own)",
                path.display()
            ));
        }
        _ => {}
    }
    crate::startup::open_core(config)
        .await
        .map_err(|e| format!("cannot open the store: {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parameters_are_read_in_any_order_and_case() {
        let h = r#"Bearer error="invalid_token", Resource_Metadata="https://r.example/.well-known/oauth-protected-resource/mcp", scope="a b""#;
        assert_eq!(
            challenge_param(h, "resource_metadata").as_deref(),
            Some("https://r.example/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(challenge_param(h, "scope").as_deref(), Some("a b"));
        assert_eq!(challenge_param("Basic realm=x", "realm"), None);
        assert_eq!(challenge_param("", "scope"), None);
    }

    #[test]
    fn metadata_goes_after_the_origin_before_the_path() {
        let u = url::Url::parse("https://files.example.com/mcp/").unwrap();
        assert_eq!(
            path_inserted(&u),
            "https://files.example.com/.well-known/oauth-protected-resource/mcp"
        );
    }
}
