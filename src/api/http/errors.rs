//! The HTTP API's error answers: a JSON body `{"code": "INVALID_ARGUMENT", "message": "…"}`
//! whose `code` is the gRPC status code's name, sent with the HTTP status of the usual
//! gRPC → HTTP mapping.
//!
//! Invariant: every refusal the HTTP API makes goes through [`ApiError`], so the body always
//! has this shape and the HTTP status always follows [`http_status`]. Two statuses have no gRPC
//! counterpart and are the only exceptions: a body over the size limit is `OUT_OF_RANGE` (what
//! the gRPC transport answers for an oversized message) sent as 413, and a known path asked with
//! the wrong method is `UNIMPLEMENTED` sent as 405.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tonic::{Code, Status};

/// A refusal: a gRPC code and a message that names the field or parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code_name(*code))]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    /// Overrides the mapped HTTP status (413 and 405 only; see the module doc).
    status: Option<StatusCode>,
}

/// The JSON body of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            status: None,
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }

    /// A request body larger than the server accepts.
    pub fn body_too_large(limit: usize) -> Self {
        ApiError {
            status: Some(StatusCode::PAYLOAD_TOO_LARGE),
            ..Self::new(
                Code::OutOfRange,
                format!("body: larger than the limit of {limit} bytes"),
            )
        }
    }

    /// A known path asked with a method it does not take.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        ApiError {
            status: Some(StatusCode::METHOD_NOT_ALLOWED),
            ..Self::new(
                Code::Unimplemented,
                format!("method: {path} does not take {method}"),
            )
        }
    }

    /// The HTTP status this error is sent with.
    pub fn http_status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| http_status(self.code))
    }

    /// The JSON body this error is sent with.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: code_name(self.code).to_string(),
            message: self.message.clone(),
        }
    }
}

impl From<Status> for ApiError {
    fn from(status: Status) -> Self {
        ApiError::new(status.code(), status.message())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match serde_json::to_vec(&self.body()) {
            Ok(body) => body,
            Err(_) => {
                br#"{"code":"INTERNAL","message":"error body could not be encoded"}"#.to_vec()
            }
        };
        let mut response = (self.http_status(), body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// The gRPC code's canonical name, as gRPC and the protobuf `google.rpc.Code` spell it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The code a [`code_name`] names.
pub fn code_from_name(name: &str) -> Option<Code> {
    ALL_CODES.iter().copied().find(|c| code_name(*c) == name)
}

const ALL_CODES: [Code; 17] = [
    Code::Ok,
    Code::Cancelled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

/// The usual gRPC → HTTP status mapping.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        // 499 "Client Closed Request" has no constant.
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_name_and_a_status() {
        for code in ALL_CODES {
            assert_eq!(code_from_name(code_name(code)), Some(code));
        }
        assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(http_status(Code::InvalidArgument), StatusCode::BAD_REQUEST);
        assert_eq!(http_status(Code::Unauthenticated), StatusCode::UNAUTHORIZED);
        assert_eq!(http_status(Code::Cancelled).as_u16(), 499);
        assert_eq!(http_status(Code::DeadlineExceeded).as_u16(), 504);
        assert_eq!(http_status(Code::DataLoss).as_u16(), 500);
        assert_eq!(ApiError::body_too_large(10).http_status().as_u16(), 413);
        assert_eq!(
            ApiError::method_not_allowed("PUT", "/v1/keys")
                .http_status()
                .as_u16(),
            405
        );
    }
}
