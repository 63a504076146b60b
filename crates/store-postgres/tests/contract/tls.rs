//! TLS to PostgreSQL with libpq's `sslmode`, against real servers: private
//! PostgreSQL instances started for these tests (one with a certificate
//! for `localhost` signed by a CA made here, one without TLS), and the
//! shared test server (Debian's cluster, `ssl = on` with its self-signed
//! snakeoil certificate) for `prefer` and `require`.

// Scaffolding (servers, certificates) that cannot be set up has failed the
// test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel::sql_types::Bool;
use diesel_async::RunQueryDsl;
use gatehouse_store_postgres::testing::ScratchDatabase;
use gatehouse_store_postgres::{Connector, PostgresStore, SslMode};

/// A PostgreSQL server of our own on 127.0.0.1, stopped and deleted when
/// dropped.
struct PrivateServer {
    dir: PathBuf,
    port: u16,
    child: Child,
}

/// The directory holding `initdb` and `postgres`, if this machine has them.
fn pg_bin() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Some(dir);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|b| b.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The PostgreSQL binaries, or `None` (skipped) on a developer machine
/// without them; under CI their absence fails the test.
fn require_pg_bin() -> Option<PathBuf> {
    let found = pg_bin();
    if found.is_none() {
        assert!(
            !under_ci(),
            "the PostgreSQL server binaries (initdb, postgres) are not installed: the TLS \
             tests must run under CI (.ci/run installs them)"
        );
        eprintln!("SKIPPED: no PostgreSQL server binaries, so the TLS tests did not run");
    }
    found
}

/// The uid and gid PostgreSQL runs as: itself, or the `postgres` account
/// when the tests run as root (which PostgreSQL refuses to run as).
fn run_as() -> Option<(u32, u32)> {
    let me = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&me.stdout).trim() != "0" {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("id runs");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("running as root needs a postgres account to run PostgreSQL as")
    };
    Some((id("-u"), id("-g")))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn private(path: &Path, owner: Option<(u32, u32)>) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }
}

impl PrivateServer {
    /// Starts a server; with `tls`, its certificate and key (PEM).
    fn start(bin: &Path, tls: Option<(&str, &str)>) -> Self {
        use std::os::unix::process::CommandExt as _;
        let owner = run_as();
        let dir = std::env::temp_dir().join(format!("gatehouse-pg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        let data = dir.join("data");
        let as_owner = |cmd: &mut Command| {
            if let Some((uid, gid)) = owner {
                cmd.uid(uid).gid(gid);
            }
        };
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args(["-A", "trust", "-U", "gatehouse", "--no-sync", "-D"])
            .arg(&data);
        as_owner(&mut initdb);
        let out = initdb.output().expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let mut server = Command::new(bin.join("postgres"));
        server
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.display()))
            .args(["-c", "fsync=off"]);
        match tls {
            Some((cert, key)) => {
                for (name, pem) in [("server.crt", cert), ("server.key", key)] {
                    let path = data.join(name);
                    std::fs::write(&path, pem).unwrap();
                    private(&path, owner);
                }
                server.args(["-c", "ssl=on"]);
            }
            None => {
                server.args(["-c", "ssl=off"]);
            }
        }
        as_owner(&mut server);
        let child = server
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("log")).unwrap())
            .spawn()
            .expect("postgres starts");
        let started = Self { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start: {}",
                std::fs::read_to_string(started.dir.join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        started
    }

    fn url(&self, host: &str, params: &str) -> String {
        format!(
            "postgres://gatehouse@{host}:{}/postgres?{params}",
            self.port
        )
    }
}

impl Drop for PrivateServer {
    /// A fast shutdown (SIGINT), bounded; then SIGKILL.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA and a server certificate for `localhost` it signed (PEM).
struct Pki {
    ca: String,
    cert: String,
    key: String,
}

fn new_pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    Pki {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

#[derive(QueryableByName)]
struct Ssl {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

/// Whether the connection `url` opens is encrypted, as the server sees it;
/// the connection error's text when it cannot be opened.
async fn encrypted(url: &str) -> Result<bool, String> {
    let mut conn = Connector::parse(url)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let row: Ssl = diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.ssl)
}

#[tokio::test]
async fn each_sslmode_keeps_its_libpq_meaning_against_real_servers() {
    let Some(bin) = require_pg_bin() else {
        return;
    };
    let pki = new_pki();
    let other = new_pki();
    let (tls, plain) = tokio::task::spawn_blocking({
        let bin = bin.clone();
        let (cert, key) = (pki.cert.clone(), pki.key.clone());
        move || {
            (
                PrivateServer::start(&bin, Some((&cert, &key))),
                PrivateServer::start(&bin, None),
            )
        }
    })
    .await
    .unwrap();
    let files = std::env::temp_dir().join(format!("gatehouse-ca-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&files).unwrap();
    let ca = files.join("ca.pem");
    std::fs::write(&ca, &pki.ca).unwrap();
    let wrong_ca = files.join("other-ca.pem");
    std::fs::write(&wrong_ca, &other.ca).unwrap();
    let root = format!("sslrootcert={}", ca.display());
    let wrong_root = format!("sslrootcert={}", wrong_ca.display());

    // verify-full: the CA signed it and it names the host connected to.
    let full = format!("sslmode=verify-full&{root}");
    assert_eq!(encrypted(&tls.url("localhost", &full)).await, Ok(true));
    // The right CA, the wrong name: 127.0.0.1 is not in the certificate.
    let e = encrypted(&tls.url("127.0.0.1", &full)).await.unwrap_err();
    assert!(e.contains("certificate"), "{e}");
    // verify-ca accepts that certificate under any name...
    let ca_only = format!("sslmode=verify-ca&{root}");
    assert_eq!(encrypted(&tls.url("127.0.0.1", &ca_only)).await, Ok(true));
    // ...but only from its CA; so does require given a root.
    for mode in ["verify-ca", "verify-full", "require"] {
        let e = encrypted(&tls.url("localhost", &format!("sslmode={mode}&{wrong_root}")))
            .await
            .unwrap_err();
        assert!(e.contains("certificate"), "{mode}: {e}");
    }
    // Without a root the verifying modes trust the public CAs, which did
    // not sign this one.
    let e = encrypted(&tls.url("localhost", "sslmode=verify-full"))
        .await
        .unwrap_err();
    assert!(e.contains("certificate"), "{e}");

    // require and prefer encrypt without verifying; disable never encrypts.
    assert_eq!(
        encrypted(&tls.url("127.0.0.1", "sslmode=require")).await,
        Ok(true)
    );
    assert_eq!(
        encrypted(&tls.url("127.0.0.1", "sslmode=prefer")).await,
        Ok(true)
    );
    assert_eq!(
        encrypted(&tls.url("127.0.0.1", "")).await,
        Ok(true),
        "prefer is the default"
    );
    assert_eq!(
        encrypted(&tls.url("127.0.0.1", "sslmode=disable")).await,
        Ok(false)
    );

    // A server without TLS: the modes that require it refuse to connect,
    // prefer falls back to plain, as libpq does.
    for mode in ["require", "verify-ca", "verify-full"] {
        let e = encrypted(&plain.url("localhost", &format!("sslmode={mode}&{root}")))
            .await
            .unwrap_err();
        assert!(
            e.to_lowercase().contains("tls") || e.contains("ssl"),
            "{mode}: {e}"
        );
    }
    assert_eq!(
        encrypted(&plain.url("127.0.0.1", "sslmode=prefer")).await,
        Ok(false)
    );

    // The store itself over verify-full: migrations, then an operation.
    let store = PostgresStore::connect(&tls.url("localhost", &full), 2)
        .await
        .unwrap();
    assert_eq!(store.ssl_mode(), SslMode::VerifyFull);
    gatehouse_core::ports::KeyStore::ping(&store).await.unwrap();
    drop(store);
    let _ = std::fs::remove_dir_all(&files);
    tokio::task::spawn_blocking(move || drop((tls, plain)))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_shared_test_server_is_reached_over_tls_by_default() {
    // Debian's cluster has ssl = on with a self-signed certificate: the
    // default (prefer) encrypts, require too, and verify-ca refuses a
    // certificate no trusted CA signed.
    let Some(db) = ScratchDatabase::create().await else {
        return;
    };
    let Ok(true) = encrypted(db.url()).await else {
        assert!(!under_ci(), "the CI PostgreSQL server must have ssl = on");
        eprintln!("SKIPPED: the test server does not offer TLS");
        return;
    };
    let sep = if db.url().contains('?') { '&' } else { '?' };
    assert_eq!(
        encrypted(&format!("{}{sep}sslmode=require", db.url())).await,
        Ok(true)
    );
    assert!(
        encrypted(&format!("{}{sep}sslmode=verify-ca", db.url()))
            .await
            .is_err()
    );
}
