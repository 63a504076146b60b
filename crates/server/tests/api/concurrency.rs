//! Single-use things stay single-use when many requests race for them.

use futures::future::join_all;
use reqwest::StatusCode;

use crate::helpers::*;

const RACERS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_of_one_code_succeed_exactly_once() {
    let app = spawn().await;
    let c = app.seed_client().await;
    let p = pkce();
    let code = app.code_for(&c, &p, "profile").await;
    let results = join_all((0..RACERS).map(|_| app.exchange(&c, &code, &p))).await;
    let ok = results
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    let refused = results
        .iter()
        .filter(|r| r.status() == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!(ok, 1, "exactly one redemption wins");
    assert_eq!(refused, RACERS - 1, "the rest are invalid_grant, never 5xx");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_succeed_exactly_once() {
    let app = spawn().await;
    let c = app.seed_client().await;
    let t = app.tokens(&c, "profile").await;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let results = join_all((0..RACERS).map(|_| app.refresh(&c, &rt))).await;
    let ok = results
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    let refused = results
        .iter()
        .filter(|r| r.status() == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!(ok, 1, "exactly one rotation wins");
    assert_eq!(refused, RACERS - 1);
}
