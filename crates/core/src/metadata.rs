//! Client metadata that both self-registration routes accept, dynamic
//! registration (RFC 7591) and metadata documents: one set of rules, so a
//! fix cannot reach one route and miss the other.

use serde_json::{Map, Value};
use url::Url;

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
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
