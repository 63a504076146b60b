//! Shared pieces of the core's unit tests.

use proptest::prelude::*;

/// Cases per property: 2,000 in `cargo test`; `PROPTEST_CASES` raises it for
/// a longer run (docs/security.md gives the command).
pub fn proptest_config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings shaped like what arrives where a URI is expected: arbitrary
/// text, and URI-like text with odd schemes, hosts, ports, userinfo,
/// percent-encoding, dot segments, queries and fragments.
pub fn uri_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z][a-zA-Z0-9+.-]{0,8}:(//)?([a-z]{1,4}(:[a-z]{0,4})?@)?(\\[[0-9a-f:.]{0,20}\\]|[a-zA-Z0-9.%-]{0,20})(:[0-9]{0,6})?(/[a-zA-Z0-9._~%!$&'()*+,;=:@-]{0,12}){0,4}(\\?[ -~]{0,12})?(#[ -~]{0,6})?",
        "(https?|HTTPS?)://(localhost|127\\.0\\.0\\.[0-9]{1,3}|\\[::1\\]|[a-z]{1,10}\\.example|10\\.0\\.0\\.1)(:[0-9]{1,5})?(/[ -~]{0,16})?",
    ]
}

/// JSON objects with the client-metadata fields of RFC 7591 (as sent to
/// registration or published as a metadata document), each value plausible
/// or hostile: strings, URI-like strings, the registered names of methods
/// and grants, arrays of those, numbers, booleans and nulls.
pub fn client_metadata_like() -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
    use serde_json::Value;
    let text = prop_oneof![
        any::<String>(),
        uri_like(),
        prop::sample::select(vec![
            String::new(),
            "none".to_owned(),
            "client_secret_basic".to_owned(),
            "code".to_owned(),
            "authorization_code".to_owned(),
            "refresh_token".to_owned(),
            "client_credentials".to_owned(),
            "native".to_owned(),
            "web".to_owned(),
            "https://app.example.com/cb".to_owned(),
            "http://127.0.0.1:3000/cb".to_owned(),
        ]),
    ];
    let value = prop_oneof![
        text.clone().prop_map(Value::String),
        proptest::collection::vec(text.prop_map(Value::String), 0..4).prop_map(Value::Array),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    let fields = vec![
        "client_name",
        "redirect_uris",
        "grant_types",
        "response_types",
        "scope",
        "token_endpoint_auth_method",
        "logo_uri",
        "client_uri",
        "policy_uri",
        "tos_uri",
        "software_id",
        "software_version",
        "application_type",
        "contacts",
        "client_secret",
    ];
    proptest::collection::vec((prop::sample::select(fields), value), 0..10)
        .prop_map(|pairs| pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}
