//! The API's one error type and its one mapping to HTTP: an
//! `application/problem+json` body (RFC 9457) with a stable `type` per kind.
//! The full cause of a server-side failure travels in a response extension
//! for the logging middleware; the client only sees a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An item of an order that cannot be served from stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Shortage {
    pub product_id: u64,
    pub requested: u32,
    pub available: u32,
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field, e.g. `items[0].quantity`.
    pub field: String,
    pub message: String,
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("there is no route {0}; GET /openapi.json lists the routes")]
    NoSuchRoute(String),
    #[error("this route does not accept the {0} method")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("not enough stock for {} item(s)", .0.len())]
    OutOfStock(Vec<Shortage>),
    #[error("this Idempotency-Key was used for a different order; use a new key for a new order")]
    IdempotencyKeyReused,
    #[error("the order names products that do not exist: {}", .0.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))]
    UnknownProducts(Vec<u64>),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error(
        "admin routes are disabled: the API was started without an admin token; set API_ADMIN_TOKEN_FILE (or API_ADMIN_TOKEN) and restart it"
    )]
    AdminDisabled,
    #[error(
        "the admin token is accepted only from this API's own host (loopback), never from the network; send public requests without an Authorization header"
    )]
    AdminFromAfar,
    #[error("the database is not available right now; try again shortly")]
    Unavailable(String),
    #[error("the request took too long and was abandoned")]
    Timeout,
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A 422 for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let (field, message) = (field.into(), message.into());
        ApiError::Validation {
            detail: format!("{field}: {message}"),
            errors: vec![FieldError { field, message }],
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::IdempotencyKeyReused | ApiError::UnknownProducts(_) => StatusCode::CONFLICT,
            ApiError::NotFound(_) | ApiError::NoSuchRoute(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) | ApiError::OutOfStock(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::AdminDisabled | ApiError::AdminFromAfar => StatusCode::FORBIDDEN,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable problem kind; the `type` URI ends with it.
    fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Validation { .. } => "validation-failed",
            ApiError::NotFound(_) => "not-found",
            ApiError::NoSuchRoute(_) => "no-such-route",
            ApiError::MethodNotAllowed(_) => "method-not-allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::OutOfStock(_) => "out-of-stock",
            ApiError::IdempotencyKeyReused => "idempotency-key-reused",
            ApiError::UnknownProducts(_) => "unknown-product",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::AdminDisabled => "admin-disabled",
            ApiError::AdminFromAfar => "loopback-only",
            ApiError::Unavailable(_) => "service-unavailable",
            ApiError::Timeout => "timeout",
            ApiError::Internal(_) => "internal-error",
        }
    }

    /// What the server log gets beyond the client's message.
    fn cause(&self) -> Option<&str> {
        match self {
            ApiError::Unavailable(cause) | ApiError::Internal(cause) => Some(cause),
            _ => None,
        }
    }
}

impl From<mysql_async::Error> for ApiError {
    /// A database error is "unavailable" when the database cannot be
    /// reached, and "internal" otherwise; its text stays on the server.
    fn from(err: mysql_async::Error) -> Self {
        match &err {
            mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => {
                ApiError::Unavailable(err.to_string())
            }
            _ => ApiError::Internal(err.to_string()),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:shopdotcom:problem:<kind>`, stable per kind of error.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Invalid fields (422).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// Items short of stock (409 out-of-stock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shortages: Option<Vec<Shortage>>,
}

/// The server-side cause of an error response, for the logging middleware.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let problem = Problem {
            kind: format!("urn:shopdotcom:problem:{}", self.kind()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            errors: match &self {
                ApiError::Validation { errors, .. } => Some(errors.clone()),
                _ => None,
            },
            shortages: match &self {
                ApiError::OutOfStock(shortages) => Some(shortages.clone()),
                _ => None,
            },
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::Unauthorized(_) = self {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"shopdotcom-admin\""),
            );
        }
        if let Some(cause) = self.cause() {
            response
                .extensions_mut()
                .insert(ErrorCause(cause.to_owned()));
        }
        response
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
