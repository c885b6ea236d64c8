//! Percent-encoding (RFC 3986) for the URIs stackctl writes: a password in
//! a database URL, a file path in a SARIF `file://` URI. One encoder, told
//! which reserved bytes a part may keep.

/// `text` with every byte percent-encoded except RFC 3986's unreserved
/// characters (letters, digits, `-._~`) and the bytes in `keep` (e.g. `/`
/// in a path).
pub fn encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep.contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_bytes_stay_and_the_rest_is_encoded() {
        assert_eq!(encode("a-Z_0.9~", b""), "a-Z_0.9~");
        assert_eq!(encode("p@ss:w/rd\"\\", b""), "p%40ss%3Aw%2Frd%22%5C");
        assert_eq!(encode("/my dir/#1/é", b"/"), "/my%20dir/%231/%C3%A9");
    }
}
