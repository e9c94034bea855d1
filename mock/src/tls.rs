//! HTTPS for the mock's listeners: a throwaway CA and a server certificate for 127.0.0.1 and
//! localhost, made at start; the server runs on rustls (ring).
//!
//! The Entra ID stand-in needs it because MSAL refuses an `http://` authority; the API's HTTPS
//! listener ([`crate::MockOptions::api_tls`]) because a proxy that verifies the API's certificate
//! (the reference nginx configuration) needs a CA to trust. The e2e suite also makes nginx's own
//! certificate with [`TlsMaterial::generate`].

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use tokio::sync::watch;

/// The DNS name in every certificate made here, beside the IP address 127.0.0.1: the name a
/// client verifying the certificate asks for (nginx checks DNS names only, never IP addresses).
pub const DNS_NAME: &str = "localhost";

/// Why the certificate could not be made or loaded.
#[derive(Debug, thiserror::Error)]
#[error("cannot make the mock's TLS certificate: {0}")]
pub struct TlsError(String);

/// A throwaway CA (to trust) and a server certificate chain and key it signed (to serve).
pub struct TlsMaterial {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

fn crypto(error: impl fmt::Display) -> TlsError {
    TlsError(error.to_string())
}

impl TlsMaterial {
    /// A new CA and a certificate for 127.0.0.1 and [`DNS_NAME`] whose common name is
    /// `subject` (what the server is, for someone reading the certificate).
    pub fn generate(subject: &str) -> Result<Self, TlsError> {
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(crypto)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "kbwatch-mock local CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(crypto)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(crypto)?;
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), DNS_NAME.to_owned()])
            .map_err(crypto)?;
        params.distinguished_name.push(DnType::CommonName, subject);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &issuer).map_err(crypto)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            chain: vec![cert.der().clone(), ca_cert.der().clone()],
            key_der: key.serialize_der(),
        })
    }

    /// PEM of the CA certificate that signed the server certificate: what a client trusts.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// PEM of the server certificate followed by the CA's (e.g. nginx's `ssl_certificate`).
    pub fn chain_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.ca_pem)
    }

    /// PEM (PKCS#8) of the server certificate's private key (e.g. `ssl_certificate_key`).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A rustls server config (TLS 1.2/1.3, ALPN h2 and http/1.1) with this chain.
    pub(crate) fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(crypto)?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), key)
            .map_err(crypto)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Serve `app` over TLS on `listener` until `stop` turns true (or its sender is dropped).
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    config: Arc<ServerConfig>,
    app: Router,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
        stopper.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(config))
        .handle(handle)
        .serve(app.into_make_service())
        .await
}
