//! Money for people, the one way every crate writes it: integer cents as
//! dollars with thousands separators, the sign kept (`-$5.00`). The API
//! keeps money in integer cents; only the clients that show it to a person
//! (the terminal, the gateway's dashboard and report) format it, here.

/// `123456` cents as `$1,234.56`; `-500` as `-$5.00`.
pub fn dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    // `unsigned_abs` keeps i64::MIN exact, where `abs` would overflow.
    let cents = cents.unsigned_abs();
    format!("{sign}${}.{:02}", thousands(cents / 100), cents % 100)
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_read_as_dollars_with_separators() {
        assert_eq!(dollars(0), "$0.00");
        assert_eq!(dollars(5), "$0.05");
        assert_eq!(dollars(39299), "$392.99");
        assert_eq!(dollars(123_456_789), "$1,234,567.89");
        assert_eq!(dollars(10_000_000_000), "$100,000,000.00");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
    }

    #[test]
    fn negative_amounts_keep_their_sign() {
        assert_eq!(dollars(-500), "-$5.00");
        assert_eq!(dollars(-1), "-$0.01");
        assert_eq!(dollars(i64::MIN), "-$92,233,720,368,547,758.08");
    }
}
