//! Signing a user in, the one step of the user flows that OAuth leaves to
//! each server. One variant per kind of server; each turns a first
//! authorization request into a code and leaves a session in the worker's
//! cookie jar, so later requests come straight back with a code (remembered
//! consent). A new kind of server needs only a new variant here.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use reqwest::StatusCode;
use reqwest::cookie::Jar;
use url::Url;

use crate::html;
use crate::oauth;

/// How a worker signs its user in.
#[derive(Clone)]
pub enum SignIn {
    /// Gatehouse's pages: the sign-in form (email, password, CSRF token from
    /// the page and its cookie), then the consent form's "Allow".
    GatehouseForm {
        /// Account email.
        user: String,
        /// Password.
        password: String,
    },
    /// node-oidc-provider's interaction flow: redirects to
    /// `/interaction/{uid}`, a login form (`login`, `password`), consent as
    /// the peer's interaction handler grants it.
    OidcProviderInteraction {
        /// Account login.
        user: String,
        /// Password.
        password: String,
    },
    /// A session established elsewhere: sent as a `Cookie` header.
    SessionCookie {
        /// `name=value[; name2=value2]`.
        cookie: String,
    },
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

/// Most steps (redirects and forms) one sign-in may take.
const MAX_STEPS: usize = 12;

impl SignIn {
    /// The kind's name, as `--sign-in` spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::GatehouseForm { .. } => "gatehouse",
            Self::OidcProviderInteraction { .. } => "oidc-provider",
            Self::SessionCookie { .. } => "cookie",
        }
    }

    /// Applies what the kind needs to a worker's HTTP client: the session's
    /// cookie jar (shared by the workers of one session) for the form kinds,
    /// a fixed header for a given cookie.
    ///
    /// # Errors
    /// A cookie that is not a valid header value.
    pub fn configure(
        &self,
        builder: reqwest::ClientBuilder,
        jar: Arc<Jar>,
    ) -> anyhow::Result<reqwest::ClientBuilder> {
        Ok(match self {
            Self::SessionCookie { cookie } => {
                let mut h = reqwest::header::HeaderMap::new();
                h.insert(
                    reqwest::header::COOKIE,
                    reqwest::header::HeaderValue::from_str(cookie)
                        .context("--session-cookie is not a valid header value")?,
                );
                builder.default_headers(h)
            }
            _ => builder.cookie_provider(jar),
        })
    }

    /// Sends the authorization request `url` and does whatever the server
    /// asks until it redirects to `redirect_uri`; returns the code.
    ///
    /// # Errors
    /// A page the kind does not expect, a wrong password, too many steps.
    pub async fn code(
        &self,
        http: &reqwest::Client,
        url: Url,
        redirect_uri: &str,
        state: &str,
    ) -> anyhow::Result<String> {
        let mut res = http.get(url).send().await?;
        for _ in 0..MAX_STEPS {
            let status = res.status();
            if status.is_redirection() {
                let next = oauth::location(&res)?;
                if next.as_str().starts_with(redirect_uri) {
                    return oauth::code_from_redirect(&next, state);
                }
                res = http.get(next).send().await?;
                continue;
            }
            if status != StatusCode::OK {
                let body = res.text().await.unwrap_or_default();
                bail!(
                    "sign-in ({}) got {status}: {}",
                    self.kind(),
                    truncate(&body)
                );
            }
            let page_url = res.url().clone();
            let page = res.text().await?;
            let (form, fields) = self.fill(&page)?;
            let action = page_url
                .join(&form.action)
                .with_context(|| format!("form action {}", form.action))?;
            res = http
                .post(action)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(serde_urlencoded::to_string(&fields)?)
                .send()
                .await?;
        }
        bail!(
            "sign-in ({}) did not reach the redirect URI in {MAX_STEPS} steps",
            self.kind()
        )
    }

    /// Picks the form to submit on `page` and the fields to submit with it.
    fn fill(&self, page: &str) -> anyhow::Result<(html::Form, Vec<(String, String)>)> {
        // Browsers submit sign-in and consent with POST; skip search boxes.
        let forms: Vec<html::Form> = html::forms(page)
            .into_iter()
            .filter(|f| f.method == "post")
            .collect();
        let (user, password) = match self {
            Self::GatehouseForm { user, password }
            | Self::OidcProviderInteraction { user, password } => (user, password),
            Self::SessionCookie { .. } => {
                bail!("the session cookie did not sign in: the server showed a page")
            }
        };
        if let Some(login) = forms.iter().find(|f| f.has_password()) {
            let user_field = login
                .user_field()
                .context("a sign-in form without a user field")?;
            let password_field = login
                .inputs
                .iter()
                .find(|i| i.kind == "password")
                .map(|i| i.name.clone())
                .unwrap_or_default();
            let mut fields = login.hidden();
            fields.push((user_field.to_owned(), user.clone()));
            fields.push((password_field, password.clone()));
            return Ok((login.clone(), fields));
        }
        match self {
            Self::GatehouseForm { .. } => {
                // The consent page: click "Allow".
                let consent = forms
                    .iter()
                    .find(|f| f.buttons.iter().any(|(_, v)| v == "allow"))
                    .with_context(|| {
                        format!("neither a sign-in nor a consent form: {}", truncate(page))
                    })?;
                let mut fields = consent.hidden();
                if let Some((name, value)) = consent.buttons.iter().find(|(_, v)| v == "allow") {
                    fields.push((name.clone(), value.clone()));
                }
                Ok((consent.clone(), fields))
            }
            // The peer grants consent itself; any other page is unexpected.
            _ => bail!("unexpected page during sign-in: {}", truncate(page)),
        }
    }
}

fn truncate(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
