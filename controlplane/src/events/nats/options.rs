//! How to reach NATS, the connection, and why NATS could not be used.

use std::path::PathBuf;
use std::time::Duration;

/// How to reach NATS.
#[derive(Debug, Clone, Default)]
pub struct NatsOptions {
    /// `nats://[user:password@]host:port`, or several, comma-separated.
    pub url: String,
    /// The stream that captures the rules' subjects.
    pub stream: String,
    /// A `.creds` file (JWT and NKey seed).
    pub creds: Option<PathBuf>,
    /// CA certificates to trust (PEM); implies TLS.
    pub tls_ca: Option<PathBuf>,
    /// A client certificate and its key (PEM), for mutual TLS.
    pub tls_cert: Option<(PathBuf, PathBuf)>,
}

/// NATS could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The connection failed.
    #[error(
        "cannot connect to NATS at {url}: {message}; start nats-server with JetStream (-js) or leave --nats-url out"
    )]
    Connect {
        /// Where.
        url: String,
        /// What the client said.
        message: String,
    },
    /// JetStream refused a stream or consumer change.
    #[error("JetStream refused {what}: {message}")]
    JetStream {
        /// What was being done.
        what: String,
        /// What the server said.
        message: String,
    },
}

pub(super) fn js_err(what: impl Into<String>) -> impl FnOnce(String) -> NatsError {
    let what = what.into();
    move |message| NatsError::JetStream { what, message }
}

/// Connects with the options.
pub async fn connect(o: &NatsOptions) -> Result<async_nats::Client, NatsError> {
    let failed = |message: String| NatsError::Connect {
        url: crate::util::redact_url(&o.url),
        message: crate::util::scrub_password(&message, &o.url),
    };
    let mut options = async_nats::ConnectOptions::new()
        .name("minicloud")
        .connection_timeout(Duration::from_secs(5));
    if let Some(creds) = &o.creds {
        options = options
            .credentials_file(creds)
            .await
            .map_err(|e| failed(e.to_string()))?;
    }
    if let Some(ca) = &o.tls_ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let Some((cert, key)) = &o.tls_cert {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    options
        .connect(o.url.as_str())
        .await
        .map_err(|e| failed(e.to_string()))
}
