//! `WWW-Authenticate: Bearer …` challenges (RFC 6750 §3, RFC 9728 §5.1),
//! built one way wherever a 401 or 403 is answered: by Gatehouse's own
//! endpoints and by resource servers using `gatehouse-resource`. A value
//! that is quoted in one place and not in another is how a client ends up
//! parsing an error description as a parameter.

/// A Bearer challenge: auth-params in the order they were added, except
/// that `error` always follows `realm` (or leads, without one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    params: Vec<(&'static str, String)>,
}

/// Quotes a value for an auth-param (RFC 9110 §11.2): backslash-escapes `"`
/// and `\`, and drops control characters, which a header cannot carry.
pub fn quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl BearerChallenge {
    /// A challenge with no parameters yet (`Bearer` alone is valid).
    pub fn new() -> Self {
        Self::default()
    }

    /// `realm`.
    #[must_use]
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.params.insert(0, ("realm", realm.into()));
        self
    }

    /// `error`: `invalid_request`, `invalid_token` or `insufficient_scope`.
    #[must_use]
    pub fn error(mut self, code: &str) -> Self {
        let at = usize::from(self.params.first().is_some_and(|(k, _)| *k == "realm"));
        self.params.insert(at, ("error", code.to_owned()));
        self
    }

    /// `error_description`, for developers.
    #[must_use]
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.params.push(("error_description", d.into()));
        self
    }

    /// `scope`: the scopes that would do, space-separated; omitted when
    /// there are none.
    #[must_use]
    pub fn scope<S: AsRef<str>>(mut self, scopes: &[S]) -> Self {
        let joined = scopes
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(" ");
        if !joined.is_empty() {
            self.params.push(("scope", joined));
        }
        self
    }

    /// `resource_metadata` (RFC 9728): where the protected resource's
    /// metadata, and through it the authorization server, can be found.
    #[must_use]
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.params.push(("resource_metadata", url.into()));
        self
    }

    /// Whether a parameter is present.
    pub fn has(&self, name: &str) -> bool {
        self.params.iter().any(|(k, _)| *k == name)
    }

    /// The header value.
    pub fn header_value(&self) -> String {
        if self.params.is_empty() {
            return "Bearer".to_owned();
        }
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        format!("Bearer {}", params.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_quotes_and_backslashes_and_drops_controls() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("x\ny\r\u{7}"), r#""xy""#);
    }

    #[test]
    fn the_error_follows_the_realm_and_the_rest_keep_their_order() {
        let c = BearerChallenge::new()
            .realm("gatehouse")
            .error("invalid_token")
            .description("the token \"x\" expired");
        assert_eq!(
            c.header_value(),
            r#"Bearer realm="gatehouse", error="invalid_token", error_description="the token \"x\" expired""#
        );
        let c = BearerChallenge::new()
            .resource_metadata("https://r.example/.well-known/oauth-protected-resource/mcp")
            .error("insufficient_scope")
            .scope(&["files:read", "files:write"]);
        assert_eq!(
            c.header_value(),
            r#"Bearer error="insufficient_scope", resource_metadata="https://r.example/.well-known/oauth-protected-resource/mcp", scope="files:read files:write""#
        );
        assert_eq!(BearerChallenge::new().header_value(), "Bearer");
        assert!(!BearerChallenge::new().scope::<&str>(&[]).has("scope"));
    }
}
