//! What a verified Security Event Token asks of the deny-set: its claims
//! checked (RFC 8417 §2.2; error codes of RFC 8935 §2.4) and its CAEP
//! `session-revoked` events read into [`Revocation`]s.
//!
//! Everything that does not concern this receiver's tokens (another
//! issuer's users, the SSF verification event, event types we do not know)
//! reads as "nothing to do" rather than an error: the transmitter is told
//! the SET was received, and stops redelivering it.

use gatehouse_core::model::GrantId;
use serde_json::Value;

use super::deny::{Revocation, Subject};

/// CAEP: a session was ended; here a grant, a wider set of grants, or one
/// token.
pub(crate) const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

/// Why a SET is refused, in RFC 8935 §2.4's terms: what goes in `setErrs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SetError {
    /// The error code.
    pub err: &'static str,
    /// A sentence for the transmitter's operator.
    pub description: String,
}

impl SetError {
    pub(crate) fn new(err: &'static str, description: impl Into<String>) -> Self {
        Self {
            err,
            description: description.into(),
        }
    }
}

/// Checks `claims` (of a SET whose signature verified) and returns the
/// revocations it carries.
///
/// # Errors
/// `invalid_issuer`, `invalid_audience`, or `invalid_request` for a SET
/// without `events` or a revocation without a moment.
pub(crate) fn revocations(
    claims: &Value,
    jti: &str,
    issuer: &str,
    audience: &str,
) -> Result<Vec<Revocation>, SetError> {
    if claims["iss"].as_str() != Some(issuer) {
        return Err(SetError::new(
            "invalid_issuer",
            "iss is not this stream's issuer",
        ));
    }
    let for_us = match &claims["aud"] {
        Value::String(a) => a == audience,
        Value::Array(all) => all.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    };
    if !for_us {
        return Err(SetError::new(
            "invalid_audience",
            "aud does not name this receiver",
        ));
    }
    if claims["jti"].as_str() != Some(jti) {
        return Err(SetError::new(
            "invalid_request",
            "jti differs from the key it was delivered under",
        ));
    }
    let Some(events) = claims["events"].as_object() else {
        return Err(SetError::new("invalid_request", "the SET has no events"));
    };
    let mut out = Vec::new();
    for (kind, payload) in events {
        if kind != SESSION_REVOKED {
            continue;
        }
        // CAEP requires event_timestamp. Without it, the SET's own issue
        // time bounds the revocation from above: using it refuses more,
        // never less.
        let at = payload["event_timestamp"]
            .as_i64()
            .or_else(|| claims["iat"].as_i64())
            .ok_or_else(|| {
                SetError::new("invalid_request", "session-revoked without event_timestamp")
            })?;
        if let Some(subject) = subject(&claims["sub_id"], issuer) {
            out.push(Revocation { subject, at });
        }
    }
    Ok(out)
}

/// Reads a `sub_id` (RFC 9493 subject identifier) into the tokens it
/// names, or `None` when it names none of ours.
fn subject(sub_id: &Value, issuer: &str) -> Option<Subject> {
    match sub_id["format"].as_str()? {
        "iss_sub" => user(sub_id, issuer).map(Subject::User),
        // SSF 1.0: one JWT, by issuer and `jti`.
        "jwt_id" if sub_id["iss"].as_str() == Some(issuer) => sub_id["jti"]
            .as_str()
            .and_then(|j| uuid::Uuid::parse_str(j).ok())
            .map(Subject::Token),
        "complex" => {
            let user = match sub_id.get("user") {
                // Another issuer's user has no tokens here; revoking the
                // whole application on their account would be wrong.
                Some(u) => Some(user(u, issuer)?),
                None => None,
            };
            let opaque = |key: &str| {
                let v = sub_id.get(key)?;
                (v["format"] == "opaque")
                    .then(|| v["id"].as_str())
                    .flatten()
            };
            if let Some(session) = opaque("session") {
                // A grant id that is not a UUID matches no token's grant_id.
                return GrantId::parse(session).map(Subject::Grant);
            }
            match (user, opaque("application")) {
                (Some(user), Some(client)) => Some(Subject::App {
                    user,
                    client: client.to_owned(),
                }),
                (Some(user), None) => Some(Subject::User(user)),
                (None, Some(client)) => Some(Subject::Client(client.to_owned())),
                (None, None) => None,
            }
        }
        _ => None,
    }
}

fn user(id: &Value, issuer: &str) -> Option<String> {
    (id["format"] == "iss_sub" && id["iss"].as_str() == Some(issuer))
        .then(|| id["sub"].as_str().map(str::to_owned))
        .flatten()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ISS: &str = "https://as.example/api/v1/oauth";
    const AUD: &str = "oauth_files";

    fn set(sub_id: Value) -> Value {
        json!({
            "iss": ISS, "aud": AUD, "iat": 1_800_000_100, "jti": "j1",
            "sub_id": sub_id,
            "events": {SESSION_REVOKED: {
                "event_timestamp": 1_800_000_000,
                "initiating_entity": "user",
                "reason_admin": {"en": "disconnected"}
            }}
        })
    }

    fn read(claims: &Value) -> Result<Vec<Revocation>, SetError> {
        revocations(claims, "j1", ISS, AUD)
    }

    fn one(sub_id: Value) -> Option<Subject> {
        let mut all = read(&set(sub_id)).unwrap();
        assert!(all.len() <= 1);
        all.pop().map(|r| {
            assert_eq!(r.at, 1_800_000_000);
            r.subject
        })
    }

    fn user_id(iss: &str) -> Value {
        json!({"format": "iss_sub", "iss": iss, "sub": "u1"})
    }

    #[test]
    fn each_subject_form_names_its_tokens() {
        let g = GrantId::new();
        let app = json!({"format": "opaque", "id": "oauth_c"});
        assert_eq!(
            one(json!({"format": "complex", "user": user_id(ISS),
                "session": {"format": "opaque", "id": g.to_string()}, "application": app})),
            Some(Subject::Grant(g))
        );
        assert_eq!(
            one(json!({"format": "complex", "user": user_id(ISS), "application": app})),
            Some(Subject::App {
                user: "u1".into(),
                client: "oauth_c".into()
            })
        );
        assert_eq!(one(user_id(ISS)), Some(Subject::User("u1".into())));
        assert_eq!(
            one(json!({"format": "complex", "application": app})),
            Some(Subject::Client("oauth_c".into()))
        );
        let jti = uuid::Uuid::new_v4();
        assert_eq!(
            one(json!({"format": "jwt_id", "iss": ISS, "jti": jti.to_string()})),
            Some(Subject::Token(jti))
        );
    }

    #[test]
    fn another_issuers_users_and_unknown_forms_are_ignored() {
        let other = "https://other.example/api/v1/oauth";
        assert_eq!(one(user_id(other)), None);
        let app = json!({"format": "opaque", "id": "oauth_c"});
        assert_eq!(
            one(json!({"format": "complex", "user": user_id(other), "application": app})),
            None
        );
        assert_eq!(
            one(json!({"format": "email", "email": "a@b.example"})),
            None
        );
        let jti = uuid::Uuid::new_v4().to_string();
        assert_eq!(
            one(json!({"format": "jwt_id", "iss": other, "jti": jti})),
            None
        );
        assert_eq!(
            one(json!({"format": "complex", "session": {"format": "opaque", "id": "not-a-uuid"}})),
            None
        );
    }

    #[test]
    fn verification_and_unknown_events_ask_for_nothing() {
        let claims = json!({
            "iss": ISS, "aud": AUD, "iat": 1, "jti": "j1",
            "sub_id": {"format": "opaque", "id": "stream"},
            "events": {
                "https://schemas.openid.net/secevent/ssf/event-type/verification": {"state": "x"},
                "https://example.com/unknown": {}
            }
        });
        assert_eq!(read(&claims), Ok(vec![]));
    }

    #[test]
    fn wrong_issuer_audience_or_shape_is_an_error_with_its_code() {
        let mut c = set(user_id(ISS));
        c["iss"] = json!("https://evil.example");
        assert_eq!(read(&c).unwrap_err().err, "invalid_issuer");
        let mut c = set(user_id(ISS));
        c["aud"] = json!("someone_else");
        assert_eq!(read(&c).unwrap_err().err, "invalid_audience");
        let mut c = set(user_id(ISS));
        c["aud"] = json!(["someone_else", AUD]);
        assert!(read(&c).is_ok());
        let mut c = set(user_id(ISS));
        c["events"] = json!(null);
        assert_eq!(read(&c).unwrap_err().err, "invalid_request");
        let c = set(user_id(ISS));
        assert_eq!(
            revocations(&c, "j2", ISS, AUD).unwrap_err().err,
            "invalid_request"
        );
    }

    #[test]
    fn a_revocation_without_event_timestamp_falls_back_to_iat() {
        let mut c = set(user_id(ISS));
        c["events"][SESSION_REVOKED]
            .as_object_mut()
            .unwrap()
            .remove("event_timestamp");
        assert_eq!(read(&c).unwrap()[0].at, 1_800_000_100);
    }
}
