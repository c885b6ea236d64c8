//! Page sizes and opaque cursors. A cursor encodes the last id of a page,
//! so paging stays stable while rows are added.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::ApiError;

/// Rows per page when the client does not say.
pub(crate) const DEFAULT_LIMIT: u32 = 20;
/// The most rows a page may have.
pub(crate) const MAX_LIMIT: u32 = 100;

/// The page size asked for, checked against the maximum.
pub(crate) fn limit(requested: Option<u32>) -> Result<u32, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::invalid(
            "limit",
            format!("{n} is out of range; ask for 1 to {MAX_LIMIT} rows"),
        )),
    }
}

/// The cursor that continues after row `id`.
pub(crate) fn encode(id: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("after:{id}"))
}

/// The row id a cursor continues after.
pub(crate) fn decode(cursor: &str) -> Result<u64, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("after:").and_then(|id| id.parse().ok()))
        .ok_or_else(|| ApiError::BadRequest("the cursor is not one this API gave out; pass `next_cursor` from the previous page unchanged".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        assert_eq!(decode(&encode(42)).unwrap(), 42);
        assert!(decode("not-a-cursor").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("before:1")).is_err());
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some(100)).unwrap(), 100);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(101)).is_err());
    }
}
