//! Connections: TCP or TLS (rustls, system roots or a given CA bundle, an
//! explicit insecure switch), then an HTTP/1.1 or HTTP/2 handshake (h2 by
//! ALPN over TLS, h2c by prior knowledge in clear). Both probes use it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;

use crate::metrics::ErrorClass;
use crate::scenario::{HttpVersion, Settings};

pub type Body = Full<Bytes>;

/// A connection failure, classified.
#[derive(Debug, Clone)]
pub struct NetError {
    pub class: ErrorClass,
    pub detail: String,
}

impl NetError {
    fn new(class: ErrorClass, detail: impl ToString) -> Self {
        NetError {
            class,
            detail: detail.to_string(),
        }
    }
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class.key(), self.detail)
    }
}

/// One open HTTP connection.
pub enum Sender {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

impl Sender {
    pub async fn send(
        &mut self,
        req: http::Request<Body>,
    ) -> hyper::Result<http::Response<Incoming>> {
        match self {
            Sender::H1(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
            Sender::H2(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
        }
    }

    pub fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }

    pub fn is_h2(&self) -> bool {
        matches!(self, Sender::H2(_))
    }

    /// HTTP/2 senders share one connection; HTTP/1.1 ones cannot be cloned.
    pub fn clone_h2(&self) -> Option<Sender> {
        match self {
            Sender::H2(s) => Some(Sender::H2(s.clone())),
            Sender::H1(_) => None,
        }
    }
}

#[derive(Clone)]
pub struct Connector {
    tls: Option<Arc<rustls::ClientConfig>>,
    connect_timeout: Duration,
    http: HttpVersion,
    /// Small buffers keep tens of thousands of idle streams cheap.
    read_buf: Option<usize>,
}

impl Connector {
    pub fn new(settings: &Settings, needs_tls: bool) -> anyhow::Result<Connector> {
        let tls = if needs_tls {
            Some(Arc::new(tls_config(settings)?))
        } else {
            None
        };
        Ok(Connector {
            tls,
            connect_timeout: settings.connect_timeout,
            http: settings.http,
            read_buf: None,
        })
    }

    pub fn with_read_buf(mut self, size: usize) -> Self {
        self.read_buf = Some(size);
        self
    }

    pub fn http(&self) -> HttpVersion {
        self.http
    }

    pub async fn connect(&self, uri: &http::Uri) -> Result<Sender, NetError> {
        let host = uri
            .host()
            .ok_or_else(|| NetError::new(ErrorClass::Connect, "URL has no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect((host, port)))
            .await
            .map_err(|_| {
                NetError::new(
                    ErrorClass::ConnectTimeout,
                    format!(
                        "no connection to {host}:{port} within {:?}",
                        self.connect_timeout
                    ),
                )
            })?
            .map_err(|e| classify_io(&e))?;
        let _ = tcp.set_nodelay(true);
        if !https {
            return self
                .handshake(TokioIo::new(tcp), self.http == HttpVersion::Http2)
                .await;
        }
        let cfg = self
            .tls
            .clone()
            .ok_or_else(|| NetError::new(ErrorClass::Tls, "TLS is not configured"))?;
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| NetError::new(ErrorClass::Tls, e))?;
        let stream = tokio::time::timeout(
            self.connect_timeout,
            tokio_rustls::TlsConnector::from(cfg).connect(name, tcp),
        )
        .await
        .map_err(|_| NetError::new(ErrorClass::ConnectTimeout, "TLS handshake timed out"))?
        .map_err(|e| NetError::new(ErrorClass::Tls, e))?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        if self.http == HttpVersion::Http2 && !h2 {
            return Err(NetError::new(
                ErrorClass::Tls,
                "server did not agree to HTTP/2 (ALPN h2)",
            ));
        }
        self.handshake(TokioIo::new(stream), h2).await
    }

    async fn handshake<T>(&self, io: TokioIo<T>, h2: bool) -> Result<Sender, NetError>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let proto = |e: hyper::Error| NetError::new(ErrorClass::Protocol, e);
        if h2 {
            let (s, conn) = http2::Builder::new(TokioExecutor::new())
                .handshake(io)
                .await
                .map_err(proto)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            return Ok(Sender::H2(s));
        }
        let mut b = http1::Builder::new();
        if let Some(n) = self.read_buf {
            // Exact: an idle stream holds one buffer of this size and no
            // more; a larger body is read in more, smaller reads.
            b.read_buf_exact_size(Some(n));
        }
        let (s, conn) = b.handshake(io).await.map_err(proto)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Sender::H1(s))
    }
}

pub fn classify_io(e: &std::io::Error) -> NetError {
    use std::io::ErrorKind::*;
    let class = match e.kind() {
        ConnectionRefused => ErrorClass::ConnectRefused,
        TimedOut => ErrorClass::ConnectTimeout,
        _ => ErrorClass::Connect,
    };
    NetError::new(class, e)
}

/// Classifies a failure while a request was in flight on an open connection.
pub fn classify_hyper(e: &hyper::Error) -> ErrorClass {
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() || e.is_user() {
        ErrorClass::Protocol
    } else if e.is_timeout() {
        ErrorClass::Timeout
    } else {
        ErrorClass::Io
    }
}

fn tls_config(s: &Settings) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut cfg = if s.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(path) = &s.ca_file {
            use rustls::pki_types::pem::PemObject;
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| anyhow::anyhow!("cannot read CA bundle {}: {e}", path.display()))?;
            for c in certs {
                let c =
                    c.map_err(|e| anyhow::anyhow!("bad certificate in {}: {e}", path.display()))?;
                roots.add(c)?;
            }
        } else {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    cfg.alpn_protocols = match s.http {
        HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2 => vec![b"h2".to_vec()],
    };
    Ok(cfg)
}

/// Accepts any certificate: only for `insecure = true` test environments.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
