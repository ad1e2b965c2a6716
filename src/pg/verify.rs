//! The server-certificate verifier behind every `sslmode`: the chain to the roots when the mode
//! verifies, the host name for `verify-full`, and a sentence saying what did not match.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, RootCertStore};

use super::settings::SslMode;
use crate::error::Hint;

/// Checks the server's certificate as the mode asks: `chain` is `None` for `prefer`, `allow`
/// and `require` without a root (any certificate). The handshake's signature is always checked.
#[derive(Debug)]
pub(super) struct Verifier {
    pub(super) algorithms: WebPkiSupportedAlgorithms,
    pub(super) chain: Option<ChainCheck>,
}

/// `verify-ca` and `verify-full`.
#[derive(Debug)]
pub(super) struct ChainCheck {
    pub(super) roots: Arc<RootCertStore>,
    pub(super) check_host: bool,
    pub(super) mode: SslMode,
    pub(super) roots_described: String,
    pub(super) failure: Arc<Mutex<Option<Hint>>>,
}

impl ChainCheck {
    fn fail(&self, what: String, fix: &str, error: TlsError) -> TlsError {
        let hint = Hint::new(
            format!(
                "the server's certificate did not verify (sslmode={}, {}): {what}",
                self.mode.name(),
                self.roots_described
            ),
            fix,
        );
        if let Ok(mut slot) = self.failure.lock() {
            *slot = Some(hint);
        }
        error
    }

    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
        algorithms: &WebPkiSupportedAlgorithms,
    ) -> Result<(), TlsError> {
        let details = CertDetails::read(end_entity);
        let cert = ParsedCertificate::try_from(end_entity).map_err(|e| {
            self.fail(
                format!("it cannot be parsed ({e})"),
                "check the server's ssl_cert_file",
                e,
            )
        })?;
        if let Err(e) = verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            algorithms.all,
        ) {
            let (what, fix) = match &e {
                TlsError::InvalidCertificate(CertificateError::UnknownIssuer) => (
                    format!(
                        "it is issued by `{}`, which is not among those CAs",
                        details.issuer
                    ),
                    "give the CA that issued it with sslrootcert=/path/to/ca.pem, or encrypt \
                     without verifying with sslmode=require",
                ),
                TlsError::InvalidCertificate(
                    CertificateError::Expired | CertificateError::ExpiredContext { .. },
                ) => (
                    format!("it expired ({})", details.not_after),
                    "renew the server's certificate",
                ),
                other => (
                    format!("{other} (issuer `{}`)", details.issuer),
                    "check the server's certificate and sslrootcert",
                ),
            };
            return Err(self.fail(what, fix, e));
        }
        if self.check_host
            && let Err(e) = verify_server_name(&cert, server_name)
            && !details.common_name_matches(server_name)
        {
            let names = if details.names.is_empty() {
                "no names".to_owned()
            } else {
                details.names.join(", ")
            };
            return Err(self.fail(
                format!(
                    "it is for {names}, not for the host `{}`",
                    server_name.to_str()
                ),
                "connect with a host name the certificate lists, or check only the CA with sslmode=verify-ca",
                e,
            ));
        }
        Ok(())
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        if let Some(chain) = &self.chain {
            chain.verify(
                end_entity,
                intermediates,
                server_name,
                now,
                &self.algorithms,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What a message needs from a certificate.
struct CertDetails {
    issuer: String,
    not_after: String,
    /// Subject alternative names (DNS and IP).
    names: Vec<String>,
    has_san: bool,
    common_name: Option<String>,
}

impl CertDetails {
    fn read(der: &CertificateDer<'_>) -> CertDetails {
        use x509_cert::der::Decode;
        use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
        use x509_cert::ext::pkix::SubjectAltName;
        use x509_cert::ext::pkix::name::GeneralName;
        let Ok(cert) = x509_cert::Certificate::from_der(der.as_ref()) else {
            return CertDetails {
                issuer: "an unreadable issuer".into(),
                not_after: "unknown".into(),
                names: vec![],
                has_san: false,
                common_name: None,
            };
        };
        let tbs = &cert.tbs_certificate;
        let common_name = tbs
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .find(|atv| atv.oid == const_oid::db::rfc4519::CN)
            .and_then(|atv| {
                let value = &atv.value;
                Utf8StringRef::try_from(value)
                    .map(|s| s.to_string())
                    .or_else(|_| PrintableStringRef::try_from(value).map(|s| s.to_string()))
                    .or_else(|_| Ia5StringRef::try_from(value).map(|s| s.to_string()))
                    .ok()
            });
        let san = tbs
            .extensions
            .iter()
            .flatten()
            .find(|ext| ext.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME)
            .and_then(|ext| SubjectAltName::from_der(ext.extn_value.as_bytes()).ok());
        let mut names: Vec<String> = san
            .iter()
            .flat_map(|san| san.0.iter())
            .filter_map(|name| match name {
                GeneralName::DnsName(dns) => Some(dns.to_string()),
                GeneralName::IpAddress(bytes) => ip_text(bytes.as_bytes()),
                _ => None,
            })
            .collect();
        let has_san = san.is_some();
        if !has_san && let Some(cn) = &common_name {
            names.push(format!("CN={cn}"));
        }
        CertDetails {
            issuer: tbs.issuer.to_string(),
            not_after: tbs.validity.not_after.to_string(),
            names,
            has_san,
            common_name,
        }
    }

    /// libpq's fallback: a certificate without SAN is matched on its common name.
    fn common_name_matches(&self, server_name: &ServerName<'_>) -> bool {
        let (false, Some(cn)) = (self.has_san, &self.common_name) else {
            return false;
        };
        let host = server_name.to_str().to_ascii_lowercase();
        let cn = cn.to_ascii_lowercase();
        match cn.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => host == cn,
        }
    }
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string()),
        _ => None,
    }
}
