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
