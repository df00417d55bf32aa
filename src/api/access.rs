//! Read access: which requests need a read credential, and the tower layer that checks it.
//!
//! The layer wraps the whole server, so it covers every route mounted in it, gRPC or HTTP. It
//! classifies each request by method and path ([`classify`]):
//! - writes (appends: gRPC `Append`/`AppendStream`, HTTP `POST /v1/events` and
//!   `POST /v1/events:batch`) pass: an append is authenticated by its signature;
//! - health checking (`/grpc.health.v1.Health/…`) and `GET /v1/openapi.json` pass;
//! - everything else is a read, and passes only with a credential the [`ReadPolicy`] accepts:
//!   a read token (`authorization: Bearer …`, checked against [`TokenSet`] hashes) or a TLS
//!   client certificate (verified against the client CA during the handshake, so its mere
//!   presence here means it chains to that CA).
//!
//! A refused gRPC request gets UNAUTHENTICATED; a refused HTTP request gets 401 with a JSON body
//! `{"code":"UNAUTHENTICATED","message":…}`. The message names the credential that is missing.

use super::tokens::TokenSet;
use futures::future::Either;
use http::{Method, Request, Response};
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::body::Body;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// Who may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadPolicy {
    /// Anyone who can connect (the default).
    #[default]
    Open,
    /// Holders of a read token.
    Token,
    /// Clients presenting a certificate that chains to the configured client CA.
    Mtls,
    /// Either of the two.
    TokenOrMtls,
}

impl std::str::FromStr for ReadPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(ReadPolicy::Open),
            "token" => Ok(ReadPolicy::Token),
            "mtls" => Ok(ReadPolicy::Mtls),
            "token-or-mtls" => Ok(ReadPolicy::TokenOrMtls),
            other => Err(format!(
                "{other:?} is not a read policy (open, token, mtls or token-or-mtls)"
            )),
        }
    }
}

impl ReadPolicy {
    pub fn needs_tokens(self) -> bool {
        matches!(self, ReadPolicy::Token | ReadPolicy::TokenOrMtls)
    }

    pub fn needs_client_ca(self) -> bool {
        matches!(self, ReadPolicy::Mtls | ReadPolicy::TokenOrMtls)
    }
}

/// The read policy and the token hashes it checks against.
#[derive(Debug, Clone, Default)]
pub struct ReadAccess {
    pub policy: ReadPolicy,
    pub tokens: TokenSet,
}

/// What a request is, for access control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    /// An append: authenticated by its signature, needs no read credential.
    Write,
    /// Health checking and the API description: open to all.
    Open,
    /// Anything else.
    Read,
}

/// Classifies a request by its method and path.
pub fn classify(method: &Method, path: &str) -> RequestClass {
    const WRITES: [&str; 4] = [
        "/provledger.v1.LogService/Append",
        "/provledger.v1.LogService/AppendStream",
        "/v1/events",
        "/v1/events:batch",
    ];
    if *method == Method::POST && WRITES.contains(&path) {
        RequestClass::Write
    } else if path.starts_with("/grpc.health.v1.Health/")
        || (*method == Method::GET && path == "/v1/openapi.json")
    {
        RequestClass::Open
    } else {
        RequestClass::Read
    }
}

impl ReadAccess {
    /// `None` when `req` may go on; otherwise the reason it may not, naming what is missing.
    pub fn refusal<B>(&self, req: &Request<B>) -> Option<String> {
        if self.policy == ReadPolicy::Open
            || classify(req.method(), req.uri().path()) != RequestClass::Read
        {
            return None;
        }
        let has_cert = || {
            req.extensions()
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|info| info.peer_certs())
                .is_some_and(|certs| !certs.is_empty())
        };
        // None: no token presented; Some(ok).
        let token = || {
            let value = req.headers().get(http::header::AUTHORIZATION)?;
            // The scheme is case-insensitive (RFC 9110 §11.1).
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.trim().split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim());
            Some(token.is_some_and(|t| self.tokens.accepts(t)))
        };
        let token_refusal = |presented: Option<bool>| match presented {
            None => "authorization: a read token is required (authorization: Bearer <token>)",
            Some(_) => "authorization: the read token is not valid",
        };
        match self.policy {
            ReadPolicy::Open => None,
            ReadPolicy::Token => match token() {
                Some(true) => None,
                other => Some(token_refusal(other).to_string()),
            },
            ReadPolicy::Mtls => (!has_cert()).then(|| {
                "a TLS client certificate issued by the server's client CA is required to read"
                    .to_string()
            }),
            ReadPolicy::TokenOrMtls => match (has_cert(), token()) {
                (true, _) | (_, Some(true)) => None,
                (false, other) => Some(format!(
                    "{}, or a TLS client certificate issued by the server's client CA",
                    token_refusal(other)
                )),
            },
        }
    }
}

/// The refusal: UNAUTHENTICATED for gRPC, 401 with a JSON body for anything else.
fn refuse<B>(req: &Request<B>, message: String) -> Response<Body> {
    let grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc {
        return tonic::Status::unauthenticated(message).into_http();
    }
    let body = serde_json::json!({"code": "UNAUTHENTICATED", "message": message}).to_string();
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = http::StatusCode::UNAUTHORIZED;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The layer: add it to the server builder.
#[derive(Debug, Clone)]
pub struct ReadAccessLayer {
    access: Arc<ReadAccess>,
}

impl ReadAccessLayer {
    pub fn new(access: ReadAccess) -> Self {
        ReadAccessLayer {
            access: Arc::new(access),
        }
    }
}

impl<S> tower_layer::Layer<S> for ReadAccessLayer {
    type Service = ReadAccessService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ReadAccessService {
            inner,
            access: self.access.clone(),
        }
    }
}

/// The service the layer makes: refuses reads without an accepted credential.
#[derive(Debug, Clone)]
pub struct ReadAccessService<S> {
    inner: S,
    access: Arc<ReadAccess>,
}

impl<S, B> tower_service::Service<Request<B>> for ReadAccessService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<std::future::Ready<Result<Response<Body>, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match self.access.refusal(&req) {
            None => Either::Right(self.inner.call(req)),
            Some(message) => {
                tracing::debug!(path = req.uri().path(), %message, "read refused");
                Either::Left(std::future::ready(Ok(refuse(&req, message))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_health_are_not_reads() {
        use RequestClass::*;
        let post = Method::POST;
        assert_eq!(classify(&post, "/provledger.v1.LogService/Append"), Write);
        assert_eq!(
            classify(&post, "/provledger.v1.LogService/AppendStream"),
            Write
        );
        assert_eq!(classify(&post, "/v1/events:batch"), Write);
        assert_eq!(classify(&Method::GET, "/v1/events"), Read);
        assert_eq!(classify(&post, "/grpc.health.v1.Health/Check"), Open);
        assert_eq!(classify(&Method::GET, "/v1/openapi.json"), Open);
        assert_eq!(
            classify(&post, "/provledger.v1.LogService/GetEntries"),
            Read
        );
        assert_eq!(classify(&post, "/provledger.v1.LineageService/Trace"), Read);
        assert_eq!(
            classify(
                &post,
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
            ),
            Read
        );
        assert_eq!(classify(&Method::GET, "/metrics"), Read);
    }

    #[test]
    fn http_refusals_are_json_401() {
        let access = ReadAccess {
            policy: ReadPolicy::Token,
            tokens: TokenSet::default(),
        };
        let req = Request::get("/metrics").body(()).unwrap();
        let message = access.refusal(&req).unwrap();
        assert!(message.contains("a read token is required"), "{message}");
        let response = refuse(&req, message);
        assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
        let req = Request::get("/metrics")
            .header("authorization", "Bearer plr_nope")
            .body(())
            .unwrap();
        assert!(access.refusal(&req).unwrap().contains("not valid"));
        let token = crate::api::tokens::generate();
        let access = ReadAccess {
            policy: ReadPolicy::Token,
            tokens: TokenSet::parse(&crate::api::tokens::hash(&token).to_hex()).unwrap(),
        };
        for scheme in ["Bearer", "bearer"] {
            let req = Request::get("/metrics")
                .header("authorization", format!("{scheme} {token}"))
                .body(())
                .unwrap();
            assert_eq!(access.refusal(&req), None);
        }
        let req = Request::get("/metrics")
            .header("authorization", format!("Basic {token}"))
            .body(())
            .unwrap();
        assert!(access.refusal(&req).is_some());
    }
}
