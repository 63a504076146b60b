//! Client ID Metadata Documents: a client_id that is an https URL is
//! fetched, validated, cached and guarded against SSRF. The documents are
//! served over real TLS by a throwaway CA that Gatehouse is told to trust.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

use crate::helpers::*;

struct DocServer {
    port: u16,
    hits: Arc<AtomicUsize>,
    /// (status line, cache-control, body)
    answer: Arc<Mutex<(String, String, String)>>,
    ca_file: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DocServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

impl DocServer {
    fn client_id(&self) -> String {
        format!("https://127.0.0.1:{}/oauth/client.json", self.port)
    }

    fn answer(&self, status: &str, cache: &str, body: &Value) {
        *self.answer.lock().unwrap() = (status.into(), cache.into(), body.to_string());
    }
}

async fn doc_server() -> DocServer {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let ca_file =
        std::env::temp_dir().join(format!("gatehouse-test-ca-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&ca_file, ca.pem()).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let answer = Arc::new(Mutex::new((String::new(), String::new(), String::new())));
    let (h, a) = (hits.clone(), answer.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, h, a) = (acceptor.clone(), h.clone(), a.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 8192];
                let mut read = 0;
                while read < buf.len() {
                    let Ok(n) = tls.read(&mut buf[read..]).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    read += n;
                    if buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                h.fetch_add(1, Ordering::SeqCst);
                let (status, cache, body) = a.lock().unwrap().clone();
                let res = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nCache-Control: {cache}\r\nLocation: https://127.0.0.1/elsewhere\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(res.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    DocServer {
        port,
        hits,
        answer,
        ca_file,
        task,
    }
}

fn document(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "Doc App",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

async fn app_trusting(docs: &DocServer, allow_loopback: bool) -> TestApp {
    let mut cfg = config();
    cfg.cimd_allow_loopback = allow_loopback;
    cfg.extra_ca_file = Some(docs.ca_file.to_string_lossy().into_owned());
    spawn_with(cfg).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metadata_document_client_signs_in_and_its_document_is_cached() {
    let docs = doc_server().await;
    let id = docs.client_id();
    docs.answer("200 OK", "max-age=600", &document(&id));
    let app = app_trusting(&docs, true).await;
    let m: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server/api/v1/oauth"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["client_id_metadata_document_supported"], true);

    let b = browser();
    let p = pkce();
    let url = app.authorize_url(&id, &p, "profile", "s");
    let page = b.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Doc App"));
    let res = Form::parse(&page, "/api/v1/oauth/login")
        .with("email", ADMIN_EMAIL)
        .with("password", ADMIN_PASSWORD)
        .submit(&b, &app.base)
        .await;
    let consent = res.text().await.unwrap();
    assert!(
        consent.contains("published at 127.0.0.1"),
        "the consent page names where the identity comes from"
    );
    let res = Form::parse(&consent, "/api/v1/oauth/authorize")
        .with("decision", "allow")
        .submit(&b, &app.base)
        .await;
    let loc = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let code = query(&loc, "code").unwrap();
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert!(t["refresh_token"].is_string());
    // Within max-age the document is not fetched again.
    b.get(&url).send().await.unwrap();
    app.refresh(
        &TestClient {
            id: id.clone(),
            secret: None,
        },
        t["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(docs.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_and_private_targets_are_refused_without_the_test_switch() {
    let docs = doc_server().await;
    let id = docs.client_id();
    docs.answer("200 OK", "max-age=600", &document(&id));
    let app = app_trusting(&docs, false).await;
    for client_id in [
        id.as_str(),
        "https://10.0.0.1/oauth/client.json",
        "https://169.254.169.254/latest/client.json",
        "https://[::1]/client.json",
        "https://localhost/client.json",
    ] {
        let res = browser()
            .get(app.authorize_url(client_id, &pkce(), "profile", "s"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{client_id}");
        assert!(res.headers().get("location").is_none());
        // Only that it failed: what a name resolves to, or whether it
        // resolves at all, is not the caller's business.
        let page = res.text().await.unwrap();
        assert!(page.contains("could not be fetched"), "{client_id}: {page}");
        for leak in ["non-public", "resolves", "127.0.0.1", "::1]", "DNS"] {
            assert!(!page.contains(leak), "{client_id} leaks {leak}: {page}");
        }
    }
    // A name that does not resolve reads exactly like a refused one.
    let res = browser()
        .get(app.authorize_url(
            "https://no-such-host.invalid/client.json",
            &pkce(),
            "profile",
            "s",
        ))
        .send()
        .await
        .unwrap();
    let page = res.text().await.unwrap();
    assert!(page.contains("could not be fetched"));
    assert!(!page.contains("DNS") && !page.contains("lookup"));
    // Encoded dot segments do not make a metadata URL.
    for sneaky in [
        format!("https://127.0.0.1:{}/oauth/%2e%2e/client.json", docs.port),
        format!("https://127.0.0.1:{}/oauth/.%2E/client.json", docs.port),
    ] {
        let res = browser()
            .get(app.authorize_url(&sneaky, &pkce(), "profile", "s"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("unknown client_id"));
    }
    assert_eq!(
        docs.hits.load(Ordering::SeqCst),
        0,
        "no request ever reached the loopback server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_or_redirecting_documents_are_refused() {
    let docs = doc_server().await;
    let id = docs.client_id();
    let app = app_trusting(&docs, true).await;
    let cases = [
        (
            "200 OK",
            document("https://someone-else.example/client.json"),
            "client_id must equal",
        ),
        ("302 Found", document(&id), "could not be fetched"),
        ("404 Not Found", json!({}), "could not be fetched"),
        (
            "200 OK",
            json!({"client_id": id, "client_name": "App", "redirect_uris": [REDIRECT], "logo_uri": "javascript:alert(1)"}),
            "logo_uri must be an https URL",
        ),
        (
            "200 OK",
            json!({"client_id": id, "client_name": "Goo\u{202e}elg", "redirect_uris": [REDIRECT]}),
            "bidirectional",
        ),
        (
            "200 OK",
            json!({"client_id": id, "redirect_uris": ["http://evil.example/cb"]}),
            "redirect URI",
        ),
        (
            "200 OK",
            json!({"client_id": id, "redirect_uris": [REDIRECT], "client_secret": "x"}),
            "client secret",
        ),
    ];
    for (status, body, why) in cases {
        docs.answer(status, "no-store", &body);
        let res = browser()
            .get(app.authorize_url(&id, &pkce(), "profile", "s"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{status} {body}");
        let page = res.text().await.unwrap();
        assert!(page.contains(why), "{why}: {page}");
    }
    // A public metadata client cannot authenticate with a secret.
    docs.answer("200 OK", "no-store", &document(&id));
    let res = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &id),
            ("client_secret", "secret_x"),
            ("refresh_token", "x"),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn with_cimd_off_url_client_ids_are_unknown() {
    let mut cfg = config();
    cfg.cimd = false;
    let app = spawn_with(cfg).await;
    let m: Value = app
        .http
        .get(app.url("/api/v1/oauth/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(m.get("client_id_metadata_document_supported").is_none());
    let res = browser()
        .get(app.authorize_url(
            "https://app.example.com/client.json",
            &pkce(),
            "profile",
            "s",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_lists_decide_whose_documents_are_fetched_at_all() {
    let docs = doc_server().await;
    let id = docs.client_id();
    docs.answer("200 OK", "max-age=600", &document(&id));
    // (allowed, denied, usable)
    for (allowed, denied, usable) in [
        ("claude.ai,*.example.com", "", false),
        ("", "127.0.0.1", false),
        ("127.0.0.1", "127.0.0.1", false),
        ("claude.ai, 127.0.0.1", "*.evil.test", true),
    ] {
        let mut cfg = config();
        cfg.cimd_allow_loopback = true;
        cfg.extra_ca_file = Some(docs.ca_file.to_string_lossy().into_owned());
        cfg.cimd_allowed_hosts = allowed.into();
        cfg.cimd_denied_hosts = denied.into();
        let app = spawn_with(cfg).await;
        let before = docs.hits.load(Ordering::SeqCst);
        let res = browser()
            .get(app.authorize_url(&id, &pkce(), "profile", "s"))
            .send()
            .await
            .unwrap();
        let fetched = docs.hits.load(Ordering::SeqCst) - before;
        if usable {
            assert_eq!(res.status(), StatusCode::OK, "{allowed} / {denied}");
            assert!(res.text().await.unwrap().contains("Doc App"));
            assert_eq!(fetched, 1);
        } else {
            assert_eq!(
                res.status(),
                StatusCode::BAD_REQUEST,
                "{allowed} / {denied}"
            );
            assert!(res.text().await.unwrap().contains("not accepted here"));
            assert_eq!(fetched, 0, "refused before any request leaves Gatehouse");
        }
    }
}
