//! How a client reaches a server: [`ConnectOptions`] (URL, TLS trust, client certificate, read
//! token) and the [`Connection`] every client in this crate speaks over.
//!
//! Invariants: an `https://` URL always uses TLS (trusting the given CA, or the system roots
//! without one); TLS options with an `http://` URL are an error, never silently dropped; a read
//! token, when given, is sent as `authorization: Bearer …` on every request.

use super::ClientError;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// A channel that carries the read token, when there is one.
pub type Connection = InterceptedService<Channel, Credentials>;

/// Where the server is and how to talk to it.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// `http://host:port` (plaintext) or `https://host:port` (TLS).
    pub url: String,
    /// Trust only this CA (PEM) for the server's certificate; the system roots when `None`.
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate chain and its key (PEM), for mutual TLS.
    pub client_identity: Option<(Vec<u8>, Vec<u8>)>,
    /// A read token, sent as `authorization: Bearer <token>`.
    pub token: Option<String>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("url", &self.url)
            .field("ca", &self.ca_pem.is_some())
            .field("client_identity", &self.client_identity.is_some())
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

impl From<&str> for ConnectOptions {
    fn from(url: &str) -> Self {
        ConnectOptions {
            url: url.to_string(),
            ..Default::default()
        }
    }
}

impl From<&String> for ConnectOptions {
    fn from(url: &String) -> Self {
        url.as_str().into()
    }
}

impl From<String> for ConnectOptions {
    fn from(url: String) -> Self {
        ConnectOptions {
            url,
            ..Default::default()
        }
    }
}

impl From<&ConnectOptions> for ConnectOptions {
    fn from(options: &ConnectOptions) -> Self {
        options.clone()
    }
}

/// Adds the read token to every request.
#[derive(Clone, Default)]
pub struct Credentials {
    authorization: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl Interceptor for Credentials {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

impl ConnectOptions {
    fn error(&self, reason: impl Into<String>) -> ClientError {
        ClientError::Options {
            url: self.url.clone(),
            reason: reason.into(),
        }
    }

    fn credentials(&self) -> Result<Credentials, ClientError> {
        let Some(token) = &self.token else {
            return Ok(Credentials::default());
        };
        let token = token.trim();
        let mut value: MetadataValue<tonic::metadata::Ascii> = format!("Bearer {token}")
            .parse()
            .map_err(|_| self.error("the read token has characters a header cannot carry"))?;
        value.set_sensitive(true);
        Ok(Credentials {
            authorization: Some(value),
        })
    }

    fn endpoint(&self) -> Result<Endpoint, ClientError> {
        let connect_error = |source| ClientError::Connect {
            url: self.url.clone(),
            source,
        };
        let endpoint = Endpoint::from_shared(self.url.clone()).map_err(connect_error)?;
        let tls = self.url.starts_with("https://");
        if !tls {
            if self.ca_pem.is_some() || self.client_identity.is_some() {
                return Err(self.error("TLS options (CA, client certificate) need an https:// URL"));
            }
            return Ok(endpoint);
        }
        let mut config = ClientTlsConfig::new();
        config = match &self.ca_pem {
            Some(ca) => config.ca_certificate(Certificate::from_pem(ca)),
            None => config.with_native_roots(),
        };
        if let Some((cert, key)) = &self.client_identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        endpoint.tls_config(config).map_err(connect_error)
    }

    /// Connects, returning a channel that sends the read token with every request.
    pub async fn connect(&self) -> Result<Connection, ClientError> {
        let credentials = self.credentials()?;
        let channel = self
            .endpoint()?
            .connect()
            .await
            .map_err(|source| ClientError::Connect {
                url: self.url.clone(),
                source,
            })?;
        Ok(InterceptedService::new(channel, credentials))
    }
}
