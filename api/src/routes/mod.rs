//! One module per resource, each with its own documented router; the
//! fallbacks turn unknown paths and methods into problem+json answers.

pub mod health;
pub mod orders;
pub mod products;

use axum::http::{Method, Uri};

use crate::error::ApiError;

/// Any path no route serves.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NoSuchRoute(uri.path().chars().take(200).collect())
}

/// A known path with a method it does not take.
pub async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
