//! A real HTTP/1.1 client (hyper-util's) for the HTTP/JSON API of a [`super::TestServer`].

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use provledger::api::http::ErrorBody;
use serde::de::DeserializeOwned;

pub type Bytes = axum::body::Bytes;

/// An HTTP/1.1 client bound to one server.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

/// An answer: status, content type and body.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl HttpClient {
    pub fn new(base: &str) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        HttpClient {
            client,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// Sends `method path` with `headers` and `body`.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> HttpAnswer {
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::from(body))).unwrap();
        let response = self.client.request(request).await.unwrap();
        assert_eq!(response.version(), axum::http::Version::HTTP_11);
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        HttpAnswer {
            status,
            content_type,
            body: body.to_vec(),
        }
    }

    pub async fn get(&self, path: &str) -> HttpAnswer {
        self.send("GET", path, &[], Vec::new()).await
    }

    pub async fn get_accepting(&self, path: &str, accept: &str) -> HttpAnswer {
        self.send("GET", path, &[("accept", accept)], Vec::new())
            .await
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> HttpAnswer {
        self.post_bytes(path, serde_json::to_vec(body).unwrap())
            .await
    }

    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> HttpAnswer {
        self.send("POST", path, &[("content-type", "application/json")], body)
            .await
    }
}

impl HttpAnswer {
    /// The body decoded as `T` (a proto message in the protobuf JSON mapping, or any JSON),
    /// after checking that the answer is a 200 JSON answer.
    pub fn ok<T: DeserializeOwned>(&self) -> T {
        assert_eq!(self.status, 200, "{}", self.text());
        assert_eq!(self.content_type, "application/json");
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    /// The error body, after checking the status.
    pub fn error(&self, status: u16) -> ErrorBody {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.content_type, "application/json");
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Percent-encodes one path segment or query value.
pub fn escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
