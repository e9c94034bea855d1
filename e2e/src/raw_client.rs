//! HTTP/1.1 with the request target sent exactly as given — no `..` resolved, no slash merged,
//! unlike reqwest — so a test can show what the reference nginx does with a path a browser
//! would never send. Over TLS it trusts only the CA the test made (hyper + tokio-rustls on
//! ring; not reqwest's rustls features, which would reach every reqwest client in the
//! workspace: no crypto provider → panic, or the aws-lc build).

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderValue, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::TestResult;

/// What one call got.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl RawAnswer {
    /// Every value of the header `name`, as text.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// Status, headers and the start of the body, for a failure message.
    pub fn summary(&self) -> String {
        let body: String = self.body.chars().take(300).collect();
        format!("{} {:?} {body:?}", self.status, self.headers)
    }

    /// The value of `name`, `None` when absent; an error when it was sent more than once.
    pub fn header(&self, name: &str) -> TestResult<Option<String>> {
        let mut values = self.header_values(name);
        match values.len() {
            0 | 1 => Ok(values.pop()),
            n => Err(format!("{name} sent {n} times: {values:?}").into()),
        }
    }
}

/// A client for one server at `addr`, plain or over TLS.
#[derive(Clone)]
pub struct RawClient {
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl RawClient {
    /// Plain HTTP to `addr`.
    pub fn plain(addr: SocketAddr) -> Self {
        Self { addr, tls: None }
    }

    /// HTTPS to `addr`, whose certificate must chain to `ca_pem` and name its IP address.
    pub fn tls(addr: SocketAddr, ca_pem: &str) -> TestResult<Self> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            addr,
            tls: Some(tokio_rustls::TlsConnector::from(Arc::new(config))),
        })
    }

    /// `method target` (a path and query, sent verbatim) with `headers`, on a new connection.
    pub async fn send(
        &self,
        method: Method,
        target: &str,
        headers: &[(&str, &str)],
    ) -> TestResult<RawAnswer> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await?;
        let mut request = Request::builder()
            .method(method)
            .uri(target)
            .header(HOST, self.addr.to_string());
        for (name, value) in headers {
            request = request.header(*name, HeaderValue::from_str(value)?);
        }
        let request = request.body(Empty::<Bytes>::new())?;
        match &self.tls {
            None => exchange(tcp, request).await,
            Some(connector) => {
                let name = ServerName::IpAddress(self.addr.ip().into());
                exchange(connector.connect(name, tcp).await?, request).await
            }
        }
    }

    /// `GET target`.
    pub async fn get(&self, target: &str) -> TestResult<RawAnswer> {
        self.send(Method::GET, target, &[]).await
    }
}

/// One request and its whole answer over `stream`.
async fn exchange(
    stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    request: Request<Empty<Bytes>>,
) -> TestResult<RawAnswer> {
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(RawAnswer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
