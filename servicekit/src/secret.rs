//! The one comparison of a presented token with the expected one, used by
//! every service that checks a bearer token (the API's admin token, the
//! gateway's access token). Both sides are hashed with SHA-256 first and
//! the digests compared with `subtle`'s constant-time equality, so the time
//! taken tells an attacker neither where the first wrong byte is nor how
//! long the expected token is.

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// True when `given` is exactly `expected`, in time independent of both.
pub fn same(expected: &[u8], given: &[u8]) -> bool {
    let (expected, given) = (Sha256::digest(expected), Sha256::digest(given));
    expected.as_slice().ct_eq(given.as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        assert!(same(b"correct horse battery", b"correct horse battery"));
        assert!(!same(b"correct horse battery", b"correct horse batterx"));
        assert!(!same(b"correct horse battery", b"correct horse"));
        assert!(!same(b"correct horse battery", b""));
        assert!(!same(b"", b"x"));
    }
}
