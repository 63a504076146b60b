//! Client metadata as self-registering clients present it: a dynamic
//! registration request (RFC 7591) or a Client ID Metadata Document. One
//! model and one set of rules for what both routes accept
//! ([`ClientMetadata::parse`]), so a security fix cannot reach one route and
//! miss the other; each route adds only its own rules on top (which methods
//! and grants it allows, its defaults).

use serde_json::{Map, Value};
use url::Url;

use crate::model::{ApplicationType, GrantType, TokenEndpointAuthMethod, validate_name};
use crate::redirect::RedirectUri;
use crate::scope::{ADMIN_SCOPE, ScopeSet};

/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 20;

/// Why metadata was refused: a redirect URI (RFC 7591's
/// `invalid_redirect_uri`) or anything else (`invalid_client_metadata`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// A redirect URI is unacceptable, or there are too many.
    #[error("{0}")]
    RedirectUri(String),
    /// Any other field.
    #[error("{0}")]
    Invalid(String),
}

/// Client metadata (RFC 7591 §2), every field read and checked with the
/// rules both self-registration routes share. Fields a client did not send
/// are `None` (or empty), so each route applies its own defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientMetadata {
    /// `client_name`: no control, formatting or invisible characters.
    pub client_name: Option<String>,
    /// `redirect_uris`: each registrable, at most 20, duplicates dropped.
    pub redirect_uris: Vec<RedirectUri>,
    /// `token_endpoint_auth_method`, if sent.
    pub auth_method: Option<TokenEndpointAuthMethod>,
    /// `grant_types`, if sent: known grants, duplicates dropped; token
    /// exchange is never self-registered.
    pub grant_types: Option<Vec<GrantType>>,
    /// `response_types`, if sent.
    pub response_types: Option<Vec<String>>,
    /// `application_type`, if sent.
    pub application_type: Option<ApplicationType>,
    /// `scope`: never `admin`.
    pub scope: ScopeSet,
    /// `contacts`, if sent.
    pub contacts: Option<Vec<String>>,
    /// The display and software fields ([`optional_fields`]), to keep and
    /// echo.
    pub extra: Map<String, Value>,
}

/// A field's value, `null` counting as absent.
fn field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.get(name).filter(|v| !v.is_null())
}

fn string(body: &Map<String, Value>, name: &str) -> Result<Option<String>, MetadataError> {
    match field(body, name) {
        None => Ok(None),
        Some(Value::String(s)) if s.len() <= MAX_FIELD_LEN => Ok(Some(s.clone())),
        Some(_) => Err(MetadataError::Invalid(format!(
            "{name} must be a string of at most {MAX_FIELD_LEN} bytes"
        ))),
    }
}

fn strings(body: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, MetadataError> {
    let wrong = || MetadataError::Invalid(format!("{name} must be an array of strings"));
    match field(body, name) {
        None => Ok(None),
        Some(Value::Array(items)) if items.len() <= 100 => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(wrong))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(wrong()),
    }
}

/// At most 80 characters of something a client sent, for an error message.
fn shown(s: &str) -> String {
    s.chars().take(80).collect()
}

impl ClientMetadata {
    /// Reads `body` (a JSON object).
    ///
    /// # Errors
    /// The first field that breaks a shared rule.
    pub fn parse(body: &Value) -> Result<Self, MetadataError> {
        let body = body
            .as_object()
            .ok_or_else(|| MetadataError::Invalid("the metadata must be a JSON object".into()))?;
        let auth_method = string(body, "token_endpoint_auth_method")?
            .map(|m| {
                TokenEndpointAuthMethod::parse(&m).ok_or_else(|| {
                    MetadataError::Invalid(
                        "token_endpoint_auth_method must be none, client_secret_basic or client_secret_post"
                            .into(),
                    )
                })
            })
            .transpose()?;
        let grant_types = strings(body, "grant_types")?
            .map(|names| {
                let mut grants: Vec<GrantType> = Vec::new();
                for name in names {
                    let g = GrantType::parse(&name)
                        .filter(|g| *g != GrantType::TokenExchange)
                        .ok_or_else(|| {
                            MetadataError::Invalid(format!(
                                "grant type '{}' is not supported",
                                shown(&name)
                            ))
                        })?;
                    if !grants.contains(&g) {
                        grants.push(g);
                    }
                }
                Ok(grants)
            })
            .transpose()?;
        let response_types = strings(body, "response_types")?;
        let raw_redirects = strings(body, "redirect_uris")?.unwrap_or_default();
        if raw_redirects.len() > MAX_REDIRECT_URIS {
            return Err(MetadataError::RedirectUri(format!(
                "at most {MAX_REDIRECT_URIS} redirect URIs"
            )));
        }
        let mut redirect_uris = Vec::new();
        for r in &raw_redirects {
            let uri = RedirectUri::parse(r).map_err(|e| {
                MetadataError::RedirectUri(format!("redirect URI '{}': {e}", shown(r)))
            })?;
            if !redirect_uris.contains(&uri) {
                redirect_uris.push(uri);
            }
        }
        let application_type = string(body, "application_type")?
            .map(|t| {
                ApplicationType::parse(&t).ok_or_else(|| {
                    MetadataError::Invalid("application_type must be web or native".into())
                })
            })
            .transpose()?;
        let scope = match string(body, "scope")? {
            None => ScopeSet::empty(),
            Some(s) => ScopeSet::parse(&s).map_err(|e| MetadataError::Invalid(e.to_string()))?,
        };
        if scope.contains(ADMIN_SCOPE) {
            return Err(MetadataError::Invalid(
                "the admin scope cannot be registered by a client itself".into(),
            ));
        }
        let client_name = string(body, "client_name")?
            .map(|n| validate_name(&n).map_err(|e| MetadataError::Invalid(e.0.into())))
            .transpose()?;
        let contacts = strings(body, "contacts")?;
        let extra = optional_fields(body).map_err(MetadataError::Invalid)?;
        Ok(Self {
            client_name,
            redirect_uris,
            auth_method,
            grant_types,
            response_types,
            application_type,
            scope,
            contacts,
            extra,
        })
    }

    /// Whether every redirect URI is a native app's: loopback or a custom
    /// scheme (how `application_type` is inferred when not sent).
    pub fn native_redirects(&self) -> bool {
        !self.redirect_uris.is_empty()
            && self
                .redirect_uris
                .iter()
                .all(|r| r.is_loopback() || !r.is_web())
    }
}

/// RFC 7591 §2 fields that are URLs a consent page or an admin console may
/// show or link to.
pub const URI_FIELDS: &[&str] = &["client_uri", "logo_uri", "tos_uri", "policy_uri"];

/// RFC 7591 §2 fields kept verbatim.
pub const TEXT_FIELDS: &[&str] = &["software_id", "software_version"];

/// Longest value of any of these fields.
pub const MAX_FIELD_LEN: usize = 2000;

/// Whether `raw` is a URL that is safe to link to: `https`, or `http` on a
/// loopback host (local development), with a host, no credentials, and at
/// most [`MAX_FIELD_LEN`] bytes. `javascript:`, `data:`, `file:` and every
/// other scheme are refused: a link on a Gatehouse page must not run code
/// or render attacker content under Gatehouse's origin.
pub fn is_web_url(raw: &str) -> bool {
    if raw.len() > MAX_FIELD_LEN {
        return false;
    }
    let Ok(url) = Url::parse(raw) else {
        return false;
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return false,
    };
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    scheme_ok && url.username().is_empty() && url.password().is_none()
}

/// The optional display and software fields of a registration request or
/// metadata document, checked, as the object to keep and echo back.
/// `null` counts as absent.
///
/// # Errors
/// A description of the first invalid field.
pub fn optional_fields(body: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for key in URI_FIELDS.iter().chain(TEXT_FIELDS) {
        let value = match body.get(*key) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) if s.len() <= MAX_FIELD_LEN => s,
            Some(_) => {
                return Err(format!(
                    "{key} must be a string of at most {MAX_FIELD_LEN} bytes"
                ));
            }
        };
        if URI_FIELDS.contains(key) && !is_web_url(value) {
            return Err(format!(
                "{key} must be an https URL (http only for loopback hosts)"
            ));
        }
        if value.chars().any(crate::text::is_deceptive) {
            return Err(format!(
                "{key} must not contain control or invisible characters"
            ));
        }
        out.insert((*key).to_owned(), Value::String(value.clone()));
    }
    if let Some(v) = field(body, "post_logout_redirect_uris") {
        out.insert(
            "post_logout_redirect_uris".to_owned(),
            Value::from(post_logout_redirect_uris(v)?),
        );
    }
    match field(body, "id_token_signed_response_alg") {
        None => {}
        Some(Value::String(alg)) if alg == "ES256" => {
            out.insert(
                "id_token_signed_response_alg".to_owned(),
                Value::from("ES256"),
            );
        }
        Some(_) => {
            return Err(
                "id_token_signed_response_alg must be ES256, the only algorithm Gatehouse signs ID tokens with"
                    .to_owned(),
            );
        }
    }
    Ok(out)
}

/// OpenID Connect RP-Initiated Logout §3.1's `post_logout_redirect_uris`:
/// each under the rules of a redirect URI (they too are where Gatehouse
/// sends browsers), duplicates dropped, at most [`MAX_REDIRECT_URIS`].
fn post_logout_redirect_uris(v: &Value) -> Result<Vec<String>, String> {
    let wrong = || "post_logout_redirect_uris must be an array of strings".to_owned();
    let items = v.as_array().ok_or_else(wrong)?;
    if items.len() > MAX_REDIRECT_URIS {
        return Err(format!(
            "at most {MAX_REDIRECT_URIS} post_logout_redirect_uris"
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let raw = item.as_str().ok_or_else(wrong)?;
        RedirectUri::parse(raw)
            .map_err(|e| format!("post_logout_redirect_uri '{}': {e}", shown(raw)))?;
        if !out.iter().any(|o| o == raw) {
            out.push(raw.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shared_rules_hold_for_every_route() {
        let ok = ClientMetadata::parse(&json!({
            "client_name": "App",
            "redirect_uris": ["https://a.example/cb", "https://a.example/cb"],
            "grant_types": ["authorization_code", "refresh_token", "refresh_token"],
            "scope": "profile",
            "logo_uri": "https://a.example/l.png",
        }))
        .unwrap();
        assert_eq!(ok.redirect_uris.len(), 1, "duplicates dropped");
        assert_eq!(ok.grant_types.as_ref().map(Vec::len), Some(2));
        assert_eq!(ok.extra.len(), 1);
        assert!(!ok.native_redirects());
        for (bad, redirect) in [
            (json!({"redirect_uris": ["http://evil.example/cb"]}), true),
            (
                json!({"redirect_uris": (0..21).map(|n| format!("https://a.example/{n}")).collect::<Vec<_>>()}),
                true,
            ),
            (json!({"redirect_uris": "https://a.example/cb"}), false),
            (
                json!({"grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"]}),
                false,
            ),
            (json!({"grant_types": ["implicit"]}), false),
            (
                json!({"token_endpoint_auth_method": "private_key_jwt"}),
                false,
            ),
            (json!({"scope": "admin profile"}), false),
            (json!({"client_name": "Goo\u{202e}elg"}), false),
            (json!({"application_type": "desktop"}), false),
            (json!({"client_uri": "javascript:alert(1)"}), false),
            (json!(["not an object"]), false),
        ] {
            let e = ClientMetadata::parse(&bad).unwrap_err();
            assert_eq!(
                matches!(e, MetadataError::RedirectUri(_)),
                redirect,
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn only_web_urls_are_kept() {
        for ok in [
            "https://app.example.com/logo.png",
            "http://localhost:3000/tos",
            "http://127.0.0.1/x",
            "http://[::1]:8080/",
        ] {
            assert!(is_web_url(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "data:image/png;base64,AAAA",
            "vbscript:x",
            "file:///etc/passwd",
            "http://app.example.com/logo.png",
            "https://user:pw@app.example.com/",
            "/relative/logo.png",
            "https://",
        ] {
            assert!(!is_web_url(bad), "{bad}");
        }
        assert!(!is_web_url(&format!(
            "https://a.example/{}",
            "x".repeat(2000)
        )));
    }

    #[test]
    fn fields_are_checked_and_nulls_ignored() {
        let body =
            json!({"logo_uri": "https://a.example/l.png", "tos_uri": null, "software_id": "x"});
        let out = optional_fields(body.as_object().unwrap()).unwrap();
        assert_eq!(out.len(), 2);
        for bad in [
            json!({"logo_uri": "javascript:alert(1)"}),
            json!({"client_uri": "data:text/html,hi"}),
            json!({"policy_uri": 7}),
            json!({"software_version": "1\u{202e}0"}),
        ] {
            assert!(optional_fields(bad.as_object().unwrap()).is_err(), "{bad}");
        }
    }
}
