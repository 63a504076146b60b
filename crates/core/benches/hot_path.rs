//! Micro-benchmarks of the pieces every token and authorize request runs,
//! so a regression in `bench/run.sh`'s numbers can be traced to the piece
//! that caused it: `cargo bench -p gatehouse-core`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_core::jwt::{Keyring, SigningKey};
use gatehouse_core::password::{Password, hash_password_blocking, verify_password_blocking};
use gatehouse_core::pkce::CodeChallenge;
use gatehouse_core::scope::ScopeSet;
use gatehouse_core::secret::{Secret, TokenHash};
use serde::{Deserialize, Serialize};

/// The RFC 9068 claims Gatehouse puts in an access token, kept here rather
/// than borrowed from the service so the benchmark measures the JWT code
/// alone and survives changes to the claim set.
#[derive(Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: uuid::Uuid,
    client_id: String,
    scope: String,
    grant_id: uuid::Uuid,
}

fn claims() -> Claims {
    Claims {
        iss: "https://auth.example.com/api/v1/oauth".into(),
        sub: "5d8a4c1e-3f0b-4f7e-9a52-0c6e1b2d3f4a".into(),
        aud: "https://mcp.example.com/mcp".into(),
        exp: 1_900_000_000,
        iat: 1_899_996_400,
        nbf: 1_899_996_400,
        jti: uuid::Uuid::new_v4(),
        client_id: "oauth_sIBAh7AHFsfzc0RMveVr-A".into(),
        scope: "files:read files:write".into(),
        grant_id: uuid::Uuid::new_v4(),
    }
}

fn pkce(c: &mut Criterion) {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = CodeChallenge::s256(verifier);
    c.bench_function("pkce/verify_s256", |b| {
        b.iter(|| challenge.verify(black_box(verifier)).unwrap())
    });
    c.bench_function("pkce/parse_challenge", |b| {
        b.iter(|| CodeChallenge::parse(black_box(challenge.as_str()), Some("S256")).unwrap())
    });
}

fn hashing(c: &mut Criterion) {
    let token = Secret::generate("gtr_");
    c.bench_function("secret/token_hash_of", |b| {
        b.iter(|| TokenHash::of(black_box(token.expose())))
    });
    let stored = token.hash();
    c.bench_function("secret/token_hash_matches", |b| {
        b.iter(|| stored.matches(black_box(token.expose())))
    });
    c.bench_function("secret/generate_refresh_token", |b| {
        b.iter(|| Secret::generate(black_box("gtr_")))
    });
}

fn jwt(c: &mut Criterion) {
    let (key, _pkcs8) = SigningKey::generate().unwrap();
    let keyring = Keyring::new(key, Vec::new());
    let claims = claims();
    c.bench_function("jwt/sign_es256", |b| {
        b.iter(|| keyring.sign(black_box(&claims)).unwrap())
    });
    let token = keyring.sign(&claims).unwrap();
    c.bench_function("jwt/verify_es256", |b| {
        b.iter(|| keyring.verify::<Claims>(black_box(&token)).unwrap())
    });
    let (_, pkcs8) = SigningKey::generate().unwrap();
    c.bench_function("jwt/load_signing_key_pkcs8", |b| {
        b.iter(|| SigningKey::from_pkcs8("kid".into(), black_box(&pkcs8)).unwrap())
    });
}

fn scopes(c: &mut Criterion) {
    c.bench_function("scope/parse_6", |b| {
        b.iter(|| {
            ScopeSet::parse(black_box(
                "openid profile email offline_access files:read files:write",
            ))
            .unwrap()
        })
    });
    c.bench_function("scope/parse_1", |b| {
        b.iter(|| ScopeSet::parse(black_box("files:read")).unwrap())
    });
}

/// Not on the token path, but on sign-in and at first start (the admin's
/// hash): the cost behind the login and time-to-ready numbers.
fn password(c: &mut Criterion) {
    let mut g = c.benchmark_group("password");
    g.sample_size(10);
    let pw = Password::new_password("correct-horse-battery").unwrap();
    g.bench_function("argon2id_hash_m19MiB_t2", |b| {
        b.iter(|| hash_password_blocking(black_box(&pw)).unwrap())
    });
    let hash = hash_password_blocking(&pw).unwrap();
    g.bench_function("argon2id_verify_m19MiB_t2", |b| {
        b.iter(|| verify_password_blocking(black_box(&pw), &hash))
    });
    g.finish();
}

criterion_group!(benches, pkce, hashing, jwt, scopes, password);
criterion_main!(benches);
