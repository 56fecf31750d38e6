//! The one error type of the HTTP API, and how each becomes an answer: a status and an
//! [`ErrorBody`] whose `error` a person can act on and whose `code` a program can match.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use labdesk_proto::sync::{ErrorBody, MIN_PROTOCOL_VERSION, PROTOCOL_HEADER, PROTOCOL_VERSION};
use labdesk_server_database::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, or one the store does not know (never issued, or revoked).
    #[error("{0}: sign in again with `labdesk login`")]
    Unauthenticated(&'static str),

    #[error("{0}")]
    Forbidden(String),

    #[error(
        "this workstation's LabDesk is too old for the server: update LabDesk ({}; the server needs protocol \
         {MIN_PROTOCOL_VERSION} or newer)",
        .0.map_or_else(|| "it sent no protocol version".to_owned(), |v| format!("it speaks protocol {v}"))
    )]
    ProtocolTooOld(Option<u32>),

    #[error("the server is older than this workstation: update the server (the workstation speaks protocol {0}, the server at most {PROTOCOL_VERSION})")]
    ProtocolTooNew(u32),

    #[error("{0}")]
    BadRequest(String),

    #[error("{0}")]
    TooLarge(String),

    #[error("there is no such endpoint: the API is described at /openapi.json")]
    NotFound,

    /// No (complete) blob of that name.
    #[error("{0}")]
    NoBlob(String),

    /// No snapshot of the caller's lab for the schema asked: the workstation pulls instead.
    #[error("{0}")]
    NoSnapshot(String),

    #[error("{0}")]
    Conflict(String),

    #[error(
        "the central database is unavailable; your changes stay on this workstation and are sent when it is back ({0})"
    )]
    Unavailable(String),

    #[error("the sync server failed; its log has the details ({0})")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::ProtocolTooOld(_) => StatusCode::UPGRADE_REQUIRED,
            ApiError::ProtocolTooNew(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound | ApiError::NoBlob(_) | ApiError::NoSnapshot(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code of [`ErrorBody::code`].
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::ProtocolTooOld(_) => "protocol_too_old",
            ApiError::ProtocolTooNew(_) => "protocol_too_new",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::TooLarge(_) => "too_large",
            ApiError::NotFound => "not_found",
            ApiError::NoBlob(_) => "no_blob",
            ApiError::NoSnapshot(_) => "no_snapshot",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => ApiError::Unavailable(why),
            StoreError::Invalid(why) => ApiError::BadRequest(why),
            StoreError::Conflict(why) => ApiError::Conflict(why),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %self, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), error = %self, "request refused");
        }
        let body = ErrorBody { error: self.to_string(), code: self.code().to_owned() };
        let mut response = (status, Json(body)).into_response();
        match self {
            // RFC 9110: a 426 names the protocol to upgrade to.
            ApiError::ProtocolTooOld(_) => {
                if let Ok(value) = HeaderValue::from_str(&format!("{PROTOCOL_HEADER}/{PROTOCOL_VERSION}")) {
                    response.headers_mut().insert(header::UPGRADE, value);
                }
            }
            ApiError::Unavailable(_) => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            ApiError::Unauthenticated(_) => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
