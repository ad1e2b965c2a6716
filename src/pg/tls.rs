//! TLS to PostgreSQL with libpq's `sslmode` semantics, on rustls.
//!
//! - `prefer`, `allow` and `require` without a root certificate encrypt but accept any
//!   certificate (the handshake's signature is still checked), as libpq does;
//! - `verify-ca` (and `require` with a root certificate) checks the chain to the given roots;
//! - `verify-full` checks the chain and the host name: the certificate's subject alternative
//!   names, or its common name when it has no SAN (libpq's rule).
//!
//! When verification fails, the verifier (`verify.rs`) keeps a sentence saying what did not
//! match, for the connection error to quote.

use std::sync::{Arc, Mutex};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::settings::{RootCert, Settings, SslMode};
use super::verify::{ChainCheck, Verifier};

/// The rustls configuration for these settings, and the slot where a failed verification
/// leaves its explanation.
pub struct Tls {
    pub config: rustls::ClientConfig,
    pub failure: Arc<Mutex<Option<crate::error::Hint>>>,
}

/// Why TLS could not be set up; each names the file and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{problem}{}", fix.as_ref().map(|f| format!(". Fix: {f}")).unwrap_or_default())]
pub struct TlsSetupError {
    pub problem: String,
    /// What to change; `None` when the problem says it.
    pub fix: Option<String>,
}

impl TlsSetupError {
    fn plain(problem: impl Into<String>) -> TlsSetupError {
        TlsSetupError {
            problem: problem.into(),
            fix: None,
        }
    }

    fn new(problem: impl Into<String>, fix: impl Into<String>) -> TlsSetupError {
        TlsSetupError {
            problem: problem.into(),
            fix: Some(fix.into()),
        }
    }
}

pub fn configure(settings: &Settings) -> Result<Tls, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let failure = Arc::new(Mutex::new(None));
    if settings.root_cert.is_none()
        && matches!(settings.sslmode, SslMode::VerifyCa | SslMode::VerifyFull)
    {
        return Err(no_root_file(settings.sslmode, None));
    }
    let chain = match &settings.root_cert {
        None => None,
        Some(root) => Some(ChainCheck {
            roots: Arc::new(load_roots(root, settings.sslmode)?),
            check_host: settings.sslmode == SslMode::VerifyFull,
            mode: settings.sslmode,
            roots_described: root.describe(),
            failure: failure.clone(),
        }),
    };
    let verifier = Arc::new(Verifier {
        algorithms: provider.signature_verification_algorithms,
        chain,
    });
    let versions: &[&rustls::SupportedProtocolVersion] =
        match (settings.tls13_only, settings.tls12_max) {
            (true, _) => &[&rustls::version::TLS13],
            (false, true) => &[&rustls::version::TLS12],
            (false, false) => rustls::DEFAULT_VERSIONS,
        };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| TlsSetupError::plain(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &settings.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let (chain, private_key) = load_client_cert(cert, key)?;
            builder
                .with_client_auth_cert(chain, private_key)
                .map_err(|e| {
                    TlsSetupError::new(
                        format!(
                            "cannot use the client certificate {} with the key {}: {e}",
                            cert.display(),
                            key.display()
                        ),
                        "give an \
                     X.509 v3 certificate (sslcert=) and the key that belongs to it (sslkey=)",
                    )
                })?
        }
    };
    config.enable_sni = settings.sni;
    Ok(Tls { config, failure })
}

fn no_root_file(mode: SslMode, path: Option<&std::path::Path>) -> TlsSetupError {
    let which = path.map_or_else(
        || "no root certificate was given and ~/.postgresql/root.crt does not exist".to_owned(),
        |p| format!("the root certificate file {} does not exist", p.display()),
    );
    TlsSetupError::new(
        format!(
            "sslmode={} verifies the server's certificate, but {which}",
            mode.name()
        ),
        "give the CA that \
         issued it with sslrootcert=/path/to/ca.pem (for Amazon RDS, the region's or the global \
         bundle from https://truststore.pki.rds.amazonaws.com), use the system's trusted CAs \
         with sslrootcert=system, or encrypt without verifying with sslmode=require",
    )
}

fn load_roots(root: &RootCert, mode: SslMode) -> Result<RootCertStore, TlsSetupError> {
    let mut store = RootCertStore::empty();
    match root {
        RootCert::System => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = store.add(cert);
            }
            if store.is_empty() {
                return Err(TlsSetupError::new(
                    format!(
                        "sslrootcert=system: no trusted CAs found on this machine ({} error(s))",
                        found.errors.len()
                    ),
                    "\
                     install the ca-certificates package, or give a CA file with sslrootcert=/path/to/ca.pem",
                ));
            }
        }
        RootCert::File(path) => {
            if !path.exists() {
                return Err(no_root_file(mode, Some(path)));
            }
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| {
                    TlsSetupError::new(format!("cannot read the root certificate file {} (sslrootcert): {e}", path.display()), "make \
                         it readable by this user and give a PEM file (-----BEGIN CERTIFICATE-----)")
                })?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(TlsSetupError::new(
                    format!(
                        "the root certificate file {} (sslrootcert) holds no usable certificate",
                        path.display()
                    ),
                    "\
                     give the CA's certificate in PEM form (-----BEGIN CERTIFICATE-----)",
                ));
            }
        }
    }
    Ok(store)
}

fn load_client_cert(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsSetupError> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| {
            TlsSetupError::plain(format!(
                "cannot read the client certificate file {} (sslcert): {e}",
                cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(TlsSetupError::plain(format!(
            "the client certificate file {} (sslcert) holds no certificate",
            cert.display()
        )));
    }
    check_key_permissions(key)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        TlsSetupError::new(
            format!(
                "cannot read the client key file {} (sslkey): {e}",
                key.display()
            ),
            "give an unencrypted PEM key \
             (PKCS#1, PKCS#8 or SEC1)",
        )
    })?;
    Ok((certs, key))
}

/// libpq refuses a key file others can read; so do we, with its message.
#[cfg(unix)]
fn check_key_permissions(key: &std::path::Path) -> Result<(), TlsSetupError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(key).map_err(|e| {
        TlsSetupError::plain(format!(
            "cannot read the client key file {} (sslkey): {e}",
            key.display()
        ))
    })?;
    // As libpq: 0600 or less, or 0640 for a root-owned key shared with a group.
    let owner_is_root = meta.uid() == 0;
    let limit = if owner_is_root { 0o640 } else { 0o600 };
    if meta.mode() & 0o777 & !limit != 0 {
        return Err(TlsSetupError::new(
            format!(
                "the client key file {} (sslkey) has group or world access",
                key.display()
            ),
            format!("chmod 600 {}", key.display()),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_permissions(_key: &std::path::Path) -> Result<(), TlsSetupError> {
    Ok(())
}
