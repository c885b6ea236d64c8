//! Page sizes and cursors. A cursor is the id of the last row of a page
//! (`next_cursor`), so paging stays stable while rows are added; its format
//! is part of the contract ([`crate::contract::CURSOR_PATTERN`]).

use crate::contract::{self, DEFAULT_LIMIT, MAX_LIMIT};
use crate::error::ApiError;

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
    id.to_string()
}

/// The row id a cursor continues after.
pub(crate) fn decode(cursor: &str) -> Result<u64, ApiError> {
    contract::cursor(cursor).ok_or_else(|| {
        ApiError::invalid(
            "cursor",
            "is not a cursor; pass `next_cursor` from the previous page unchanged",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_what_is_not_one() {
        assert_eq!(decode(&encode(42)).unwrap(), 42);
        assert!(decode("not-a-cursor").is_err());
        assert!(decode("-1").is_err());
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some(100)).unwrap(), 100);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(101)).is_err());
    }
}
