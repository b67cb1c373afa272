//! Which addresses functions' outbound connections may reach, and the
//! connection itself.
//!
//! The execution role decides which *names* a function may fetch
//! (`http:Fetch` on `host/<name>`); this module decides which *addresses*.
//! A role granting `host/*`, or a name that resolves to `127.0.0.1`, must
//! not open the platform's own API, the cloud's metadata service or the
//! private network to a tenant. So a name is resolved once, every address
//! it resolved to is judged by the [`NetworkPolicy`], and the socket
//! connects to one of those judged addresses, never to the name again: a
//! DNS answer that changes between the check and the connect (rebinding)
//! reaches nothing the check did not see.
//!
//! By default only public addresses pass; the operator may allow named
//! ranges (`minicloud serve --outbound-allow-cidr`).

mod policy;

pub use policy::{AddressClass, BadRange, NetworkPolicy, classify};

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Why a connection was not made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NetError {
    #[error("scheme {0:?} is not supported (http and https are)")]
    Scheme(String),
    #[error("the request names no host")]
    NoHost,
    #[error("{addr} is {class}, which functions may not reach")]
    Forbidden { addr: IpAddr, class: AddressClass },
    #[error("looking up {0} took too long")]
    DnsTimeout(String),
    #[error("looking up {host} failed: {source}")]
    Lookup { host: String, source: std::io::Error },
    #[error("{0} has no address")]
    NoAddress(String),
    #[error("connecting took too long")]
    ConnectTimeout,
    #[error("connecting failed: {0}")]
    Connect(std::io::Error),
    #[error("{0:?} is not a valid TLS server name")]
    ServerName(String),
    #[error("TLS is not available: {0}")]
    TlsSetup(String),
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
}

/// Where a request goes, from its URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) tls: bool,
    /// The host without IPv6 brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Target {
    pub(crate) fn from_uri(uri: &http::Uri) -> Result<Self, NetError> {
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => return Err(NetError::Scheme(other.unwrap_or_default().to_owned())),
        };
        let host = uri.host().filter(|h| !h.is_empty()).ok_or(NetError::NoHost)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        Ok(Self {
            tls,
            host: host.to_owned(),
            port: uri.port_u16().unwrap_or(if tls { 443 } else { 80 }),
        })
    }

    /// The address, when the host is written as one (no lookup needed).
    pub(crate) fn literal(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// A connected stream, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Resolves `target`, checks every address, connects to a checked one and
/// does the TLS handshake for https, all within `timeout`.
pub(crate) async fn connect(
    target: &Target,
    policy: &NetworkPolicy,
    timeout: Duration,
) -> Result<Box<dyn Io>, NetError> {
    let deadline = Instant::now() + timeout;
    let addrs = tokio::time::timeout_at(deadline, resolve(target))
        .await
        .map_err(|_| NetError::DnsTimeout(target.host.clone()))??;
    // One forbidden address refuses the name: which one the resolver or a
    // retry would pick is not ours to predict.
    for addr in &addrs {
        policy.check(addr.ip()).map_err(|class| NetError::Forbidden {
            addr: addr.ip(),
            class,
        })?;
    }
    let tcp = tokio::time::timeout_at(deadline, connect_any(&addrs))
        .await
        .map_err(|_| NetError::ConnectTimeout)??;
    if !target.tls {
        return Ok(Box::new(tcp));
    }
    // The certificate is checked against the name the guest asked for,
    // not the address it resolved to.
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|_| NetError::ServerName(target.host.clone()))?;
    let connector = tokio_rustls::TlsConnector::from(tls_config()?);
    let tls = tokio::time::timeout_at(deadline, connector.connect(name, tcp))
        .await
        .map_err(|_| NetError::ConnectTimeout)?
        .map_err(NetError::Tls)?;
    Ok(Box::new(tls))
}

async fn resolve(target: &Target) -> Result<Vec<SocketAddr>, NetError> {
    if let Some(ip) = target.literal() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|source| NetError::Lookup {
            host: target.host.clone(),
            source,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(NetError::NoAddress(target.host.clone()));
    }
    Ok(addrs)
}

/// Tries each address in turn; the last failure if none answers.
async fn connect_any(addrs: &[SocketAddr]) -> Result<TcpStream, NetError> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Requests are small and answered at once: do not hold
                // them back waiting to fill a segment.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(NetError::Connect(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no address to connect to")
    })))
}

/// One client configuration for every https request: the web's public
/// roots (webpki-roots), ring for crypto, no client certificate.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, NetError> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            // The provider is named rather than taken from the process
            // default, which another crate's rustls features could make
            // ambiguous.
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map(|builder| Arc::new(builder.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(NetError::TlsSetup)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]
mod tests {
    use super::AddressClass::*;
    use super::*;

    #[test]
    fn targets_come_from_the_uri() {
        let t = |u: &str| Target::from_uri(&u.parse().unwrap());
        assert_eq!(
            t("http://example.com/x").unwrap(),
            Target {
                tls: false,
                host: "example.com".into(),
                port: 80
            }
        );
        assert_eq!(
            t("https://example.com:8443/").unwrap(),
            Target {
                tls: true,
                host: "example.com".into(),
                port: 8443
            }
        );
        let v6 = t("http://[::1]:8080/").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 8080));
        assert_eq!(v6.literal(), Some("::1".parse().unwrap()));
        assert_eq!(t("https://example.com/").unwrap().literal(), None);
        assert!(matches!(t("ftp://example.com/"), Err(NetError::Scheme(_))));
        assert!(matches!(t("/path"), Err(NetError::Scheme(_))));
    }

    #[tokio::test]
    async fn forbidden_addresses_are_refused_before_connecting() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let policy = NetworkPolicy::public_only();
        for host in ["127.0.0.1", "localhost", "127.1"] {
            let target = Target {
                tls: false,
                host: host.into(),
                port,
            };
            let err = connect(&target, &policy, Duration::from_secs(5)).await.err();
            assert!(
                matches!(err, Some(NetError::Forbidden { class: Loopback, .. })),
                "{host}: {err:?}"
            );
        }
        let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        assert!(accepted.is_err(), "nothing may have connected");

        // Allowed, the same address is reached.
        let policy = NetworkPolicy::allowing(&["127.0.0.0/8"]).unwrap();
        let target = Target {
            tls: false,
            host: "127.0.0.1".into(),
            port,
        };
        let (client, server) = tokio::join!(
            connect(&target, &policy, Duration::from_secs(5)),
            listener.accept()
        );
        assert!(client.is_ok() && server.is_ok());
    }

    #[tokio::test]
    async fn https_targets_get_a_tls_handshake() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // A server that hangs up at once: the handshake, not the connect,
        // must be what fails.
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        let policy = NetworkPolicy::allowing(&["127.0.0.0/8"]).unwrap();
        let target = Target {
            tls: true,
            host: "localhost".into(),
            port,
        };
        let err = connect(&target, &policy, Duration::from_secs(5)).await.err();
        assert!(matches!(err, Some(NetError::Tls(_))), "{err:?}");
    }

    #[test]
    fn the_tls_client_is_configured_once() {
        let first = tls_config().unwrap();
        assert!(Arc::ptr_eq(&first, &tls_config().unwrap()));
    }

    #[test]
    fn refusals_name_the_address_and_its_class() {
        let e = NetError::Forbidden {
            addr: "169.254.169.254".parse().unwrap(),
            class: LinkLocal,
        };
        assert_eq!(
            e.to_string(),
            "169.254.169.254 is a link-local address, which functions may not reach"
        );
    }
}
