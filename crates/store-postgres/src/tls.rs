//! Connections with libpq's `sslmode` and `sslrootcert`, spoken with
//! rustls (no OpenSSL, no libpq).
//!
//! Managed PostgreSQL services (RDS, Cloud SQL, Azure, Supabase, Neon)
//! require TLS, and operators already know libpq's URL parameters, so the
//! same names keep the same meaning here:
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | not looked at |
//! | `prefer` (default) | if the server offers it | not verified |
//! | `require` | always | not verified (verified like `verify-ca` when `sslrootcert` is given, as libpq does) |
//! | `verify-ca` | always | signed by a trusted CA |
//! | `verify-full` | always | signed by a trusted CA and names the host connected to |
//!
//! `sslrootcert=PATH` names a PEM file of trusted CA certificates (the
//! provider's CA bundle). Without it, or with `sslrootcert=system`, the
//! verifying modes trust the Mozilla roots bundled in the binary, which
//! covers providers whose certificates come from a public CA.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require` and refuses
//! unknown parameters, so both are taken out of the URL here and the rest
//! is left to it untouched.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use diesel::ConnectionError;
use diesel_async::AsyncPgConnection;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`, the five values with their libpq meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, else plain; the certificate is not
    /// verified. libpq's default, kept so a bare URL behaves as `psql`'s.
    #[default]
    Prefer,
    /// TLS or nothing; the certificate is not verified unless
    /// `sslrootcert` is given.
    Require,
    /// TLS, with a certificate chain to a trusted CA.
    VerifyCa,
    /// TLS, with a certificate chain to a trusted CA that names the host.
    VerifyFull,
}

impl SslMode {
    /// The mode a URL's `sslmode` value names.
    ///
    /// # Errors
    /// Any other value (libpq's `allow` included, which would make the
    /// client, not the server, decide whether TLS is used).
    pub fn parse(value: &str) -> anyhow::Result<Self> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => anyhow::bail!(
                "sslmode={other} is not supported: use disable, prefer, require, verify-ca or \
                 verify-full"
            ),
        })
    }

    /// The value as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to open a connection: the URL, parsed once, and the TLS to speak.
/// Cloning is cheap; the pool clones it for every connection it opens.
#[derive(Clone)]
pub struct Connector {
    config: tokio_postgres::Config,
    tls: Option<MakeRustlsConnect>,
    mode: SslMode,
}

impl fmt::Debug for Connector {
    /// The mode only: the configuration holds the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("sslmode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Parses `url` (`postgres://user:password@host:port/db?sslmode=…`) and
    /// prepares its TLS: reading `sslrootcert` now, so a missing or empty
    /// file fails at start and not at the first connection.
    ///
    /// # Errors
    /// An unparsable URL, an unknown `sslmode`, or an unreadable
    /// `sslrootcert` file or one without a certificate.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let (rest, mode, root) = split_tls_params(url)?;
        let mut config: tokio_postgres::Config = rest
            .parse()
            // tokio-postgres's parse errors name the part, never the password.
            .map_err(|e| anyhow::anyhow!("invalid PostgreSQL URL: {e}"))?;
        let mode = mode.unwrap_or_default();
        config.ssl_mode(match mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        let tls = match mode {
            SslMode::Disable => None,
            _ => Some(MakeRustlsConnect::new(client_config(
                mode,
                root.as_deref(),
            )?)),
        };
        Ok(Self { config, tls, mode })
    }

    /// The `sslmode` in effect.
    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// Opens one connection.
    ///
    /// # Errors
    /// The server is unreachable, refuses TLS under a mode that requires
    /// it, presents a certificate the mode does not accept, or refuses the
    /// credentials.
    pub async fn connect(&self) -> Result<AsyncPgConnection, ConnectionError> {
        let failed = |e: tokio_postgres::Error| ConnectionError::BadConnection(describe(&e));
        match &self.tls {
            None => {
                let (client, connection) = self
                    .config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(failed)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
            Some(tls) => {
                let (client, connection) =
                    self.config.connect(tls.clone()).await.map_err(failed)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
        }
    }
}

/// tokio-postgres's error with its causes: "error performing TLS
/// handshake" alone would not say that the certificate names another host.
fn describe(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Takes `sslmode` and `sslrootcert` out of `url`'s query, leaving every
/// other parameter exactly as written (tokio-postgres decodes them itself).
fn split_tls_params(url: &str) -> anyhow::Result<(String, Option<SslMode>, Option<PathBuf>)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None, None));
    };
    let (mut mode, mut root, mut kept) = (None, None, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| anyhow::anyhow!("the PostgreSQL URL's {key} is not UTF-8"))?;
        match key {
            "sslmode" => mode = Some(SslMode::parse(&value)?),
            "sslrootcert" => root = Some(PathBuf::from(value.as_ref())),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, mode, root))
}

/// The rustls configuration for `mode`, trusting `root` (a PEM file, or
/// `system` for the bundled Mozilla roots).
fn client_config(mode: SslMode, root: Option<&Path>) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("cannot set up TLS: {e}"))?;
    let verifying = match mode {
        SslMode::VerifyCa | SslMode::VerifyFull => true,
        // libpq verifies under `require` (and `prefer`) when given a root
        // certificate: naming one is asking for it.
        SslMode::Prefer | SslMode::Require => root.is_some(),
        SslMode::Disable => false,
    };
    let config = if verifying {
        let roots = Arc::new(trusted_roots(root)?);
        if mode == SslMode::VerifyFull {
            builder.with_root_certificates(roots)
        } else {
            let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| anyhow::anyhow!("cannot set up TLS: {e}"))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyHostname(verifier)))
        }
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
    };
    Ok(config.with_no_client_auth())
}

/// The CA certificates in `root`, or the Mozilla roots.
fn trusted_roots(root: Option<&Path>) -> anyhow::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match root.filter(|p| *p != Path::new("system")) {
        None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| anyhow::anyhow!("cannot read sslrootcert {}: {e}", path.display()))?;
            let (added, _) = store.add_parsable_certificates(certs);
            anyhow::ensure!(
                added > 0,
                "sslrootcert {} holds no usable CA certificate",
                path.display()
            );
        }
    }
    Ok(store)
}

/// `verify-ca` (and `require` with a root): the chain must lead to a
/// trusted CA, whatever host the certificate names. webpki checks the chain
/// before the name, so a name mismatch is only ever reported for a chain
/// that passed.
#[derive(Debug)]
struct AnyHostname(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a root: encrypted, not authenticated,
/// as libpq does. The handshake's signatures are still checked against the
/// presented certificate, so the session is bound to it; only who holds
/// that certificate is not established.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_and_the_rest_left_as_written() {
        let (rest, mode, root) = split_tls_params(
            "postgres://u:p%40ss@db:5432/app?options=-c%20x%3D1&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=gh",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgres://u:p%40ss@db:5432/app?options=-c%20x%3D1&application_name=gh"
        );
        assert_eq!(mode, Some(SslMode::VerifyFull));
        assert_eq!(root.as_deref(), Some(Path::new("/etc/ca.pem")));
        let (rest, mode, root) = split_tls_params("postgres://db/app?sslmode=disable").unwrap();
        assert_eq!(
            (rest.as_str(), mode, root),
            ("postgres://db/app", Some(SslMode::Disable), None)
        );
        let (rest, mode, _) = split_tls_params("postgres://db/app").unwrap();
        assert_eq!((rest.as_str(), mode), ("postgres://db/app", None));
    }

    #[test]
    fn every_libpq_mode_parses_and_nothing_else_does() {
        for mode in [
            SslMode::Disable,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            assert_eq!(SslMode::parse(mode.as_str()).unwrap(), mode);
        }
        for bad in ["allow", "VERIFY-FULL", "", "true"] {
            let e = SslMode::parse(bad).unwrap_err().to_string();
            assert!(e.contains("sslmode"), "{e}");
        }
        assert_eq!(SslMode::default(), SslMode::Prefer);
    }

    #[test]
    fn a_bad_url_or_root_file_fails_at_parse_time_without_the_password() {
        let e = Connector::parse("postgres://u:hunter2@db/app?sslmode=sometimes")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sslmode=sometimes") && !e.contains("hunter2"),
            "{e}"
        );
        let e = Connector::parse(
            "postgres://u:hunter2@db/app?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("/nonexistent/ca.pem") && !e.contains("hunter2"),
            "{e}"
        );
        let e = Connector::parse("postgres://u:hunter2@db/app?bogus=1")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
        for url in [
            "postgres://db/app",
            "postgres://db/app?sslmode=disable",
            "postgres://db/app?sslmode=require",
            "postgres://db/app?sslmode=verify-full",
            "postgres://db/app?sslmode=verify-ca&sslrootcert=system",
        ] {
            Connector::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }
}
