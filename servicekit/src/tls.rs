//! How a TLS certificate is named to people: the SHA-256 of its DER
//! encoding as colon-separated upper-case hex, the form `openssl x509
//! -fingerprint -sha256` prints. `stackctl up` and `ps` show it, the API
//! logs it at start, and clients (verify, the tests) pin it.

use sha2::{Digest as _, Sha256};

/// `AB:CD:...` (32 bytes, 95 characters) for a certificate's DER bytes.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_read_like_openssls() {
        let print = fingerprint(b"");
        assert_eq!(print.len(), 95);
        assert!(print.starts_with("E3:B0:C4:42:98:FC:1C:14"), "{print}");
    }
}
