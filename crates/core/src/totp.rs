//! Time-based one-time passwords (RFC 6238) as authenticator apps compute
//! them: HMAC-SHA1, 30-second steps, six digits, the secret shared as
//! base32 in an `otpauth://` URI (the de facto format every app reads).
//!
//! SHA-1 is what every authenticator app supports by default; HOTP's use
//! of it (an HMAC, RFC 4226 §B) does not rely on collision resistance.

use data_encoding::BASE32_NOPAD;
use ring::hmac;
use time::OffsetDateTime;

/// Seconds per time step.
pub const STEP_SECONDS: i64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Bytes of a new secret (RFC 4226 recommends 160 bits).
pub const SECRET_BYTES: usize = 20;

/// The time step `t` falls in.
pub fn step_at(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().div_euclid(STEP_SECONDS)
}

/// The code for `step` (RFC 4226 §5.3 dynamic truncation, six digits).
pub fn code_at(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    format!("{:06}", binary % 1_000_000)
}

/// The step a presented code is for, looking one step either side of
/// now (clock drift and the time it takes to type), or `None`. Every
/// candidate is compared, in constant time, so the answer's timing says
/// nothing about which step matched.
pub fn matching_step(secret: &[u8], code: &str, now: OffsetDateTime) -> Option<i64> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut found = None;
    for step in [current - 1, current, current + 1] {
        if crate::secret::constant_time_eq(&code_at(secret, step), code) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The secret as authenticator apps take it typed in.
pub fn base32(secret: &[u8]) -> String {
    BASE32_NOPAD.encode(secret)
}

/// The `otpauth://totp/…` URI an authenticator app reads from the QR code:
/// the label says which service and account the codes are for.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn codes_match_rfc_6238_appendix_b() {
        // The SHA-1 rows of RFC 6238's test vectors, last six digits.
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code_at(RFC_SECRET, step_at(at(t))), code, "T = {t}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_its_neighbours_only() {
        let now = at(1_234_567_890);
        let step = step_at(now);
        for (offset, expected) in [(-1, true), (0, true), (1, true), (-2, false), (2, false)] {
            let code = code_at(RFC_SECRET, step + offset);
            assert_eq!(
                matching_step(RFC_SECRET, &code, now) == Some(step + offset),
                expected,
                "offset {offset}"
            );
        }
        for junk in ["", "12345", "1234567", "12a456", " 05924", "٠٠٥٩٢٤"] {
            assert_eq!(matching_step(RFC_SECRET, junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn the_uri_carries_the_secret_in_base32_and_a_readable_label() {
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let uri = otpauth_uri(RFC_SECRET, "Gatehouse", "jane@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Gatehouse:jane%40example%2Ecom?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"
        );
    }
}
