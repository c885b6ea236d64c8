//! Request extractors whose every rejection is a problem+json `ApiError`:
//! JSON bodies, query strings, path ids, the admin bearer token and the
//! `Idempotency-Key` header.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body; bad JSON is 400, a wrong shape 422, a wrong content type 415,
/// an oversized body 413.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(err) => {
            // "Failed to deserialize the JSON body into the target type: items[0].quantity: invalid value..."
            let text = err.body_text();
            let detail = text
                .split_once(": ")
                .map(|(_, rest)| rest.to_owned())
                .unwrap_or(text);
            let field = detail
                .split_once(": ")
                .map(|(f, _)| f.to_owned())
                .unwrap_or_else(|| "body".into());
            ApiError::Validation {
                errors: vec![crate::error::FieldError {
                    field: if field.contains(' ') {
                        "body".into()
                    } else {
                        field
                    },
                    message: detail.clone(),
                }],
                detail,
            }
        }
        JsonRejection::JsonSyntaxError(err) => {
            ApiError::BadRequest(format!("the body is not valid JSON: {}", err.body_text()))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
            "send the body as JSON with `Content-Type: application/json`".into(),
        ),
        JsonRejection::BytesRejection(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge(format!(
                "the body is larger than the limit of {} bytes",
                crate::BODY_LIMIT
            ))
        }
        other => ApiError::BadRequest(other.body_text()),
    }
}

/// A query string; a value of the wrong type is 400.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| {
                ApiError::BadRequest(format!("bad query string: {}", e.body_text()))
            })
    }
}

/// A numeric id in the path; anything else is a 400 naming what was sent.
pub(crate) struct Id(pub u64);

impl FromRequestParts<AppState> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|e: PathRejection| ApiError::BadRequest(e.body_text()))?;
        match raw.parse::<u64>() {
            Ok(id) if (1..=crate::contract::MAX_ID).contains(&id) => Ok(Id(id)),
            _ => Err(ApiError::BadRequest(format!(
                "`{raw}` is not an id; ids are integers from 1 to {}",
                crate::contract::MAX_ID
            ))),
        }
    }
}

/// Proof that the request carries the admin bearer token.
pub(crate) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match check_admin(parts, state)? {
            true => Ok(Admin),
            false => Err(ApiError::Unauthorized(
                "this route needs the admin token: send `Authorization: Bearer <token>`".into(),
            )),
        }
    }
}

/// Whether the request carries the admin token; a wrong token is still 401.
pub(crate) struct MaybeAdmin(pub bool);

impl FromRequestParts<AppState> for MaybeAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(MaybeAdmin(false));
        }
        check_admin(parts, state).map(MaybeAdmin)
    }
}

/// `Ok(false)` without a token, `Ok(true)` with the right one, an error for a
/// wrong one or when admin access is disabled.
fn check_admin(parts: &Parts, state: &AppState) -> Result<bool, ApiError> {
    let Some(expected) = &state.admin_token else {
        return Err(ApiError::AdminDisabled);
    };
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(false);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
        })?;
    if expected.matches(token.trim()) {
        Ok(true)
    } else {
        Err(ApiError::Unauthorized("the admin token is wrong".into()))
    }
}

/// The `Idempotency-Key` header: required, 1 to 128 visible ASCII characters.
pub(crate) struct IdempotencyKey(pub String);

impl FromRequestParts<AppState> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get("idempotency-key").ok_or_else(|| {
            ApiError::BadRequest(
                "the Idempotency-Key header is missing; send a unique key (e.g. a UUID) per order, and the same key when you retry".into(),
            )
        })?;
        let key = value.to_str().unwrap_or_default();
        if !crate::contract::idempotency_key_ok(key) {
            return Err(ApiError::BadRequest(
                "the Idempotency-Key must be 1 to 128 visible ASCII characters".into(),
            ));
        }
        Ok(IdempotencyKey(key.to_owned()))
    }
}
