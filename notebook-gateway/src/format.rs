//! Numbers for people: cents as dollars with thousands separators, and
//! days of cover.

/// `123456` cents as `$1,234.56`.
pub(crate) fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}${}.{:02}", thousands(cents / 100), cents % 100)
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
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

/// A time as `2026-11-28 17:06:15 UTC`.
pub(crate) fn timestamp(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        at.date(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Days of cover, or "no sales" when the product does not sell.
pub(crate) fn cover(days: Option<f64>) -> String {
    match days {
        Some(d) => format!("{d:.1} days"),
        None => "no recent sales".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_read_as_dollars() {
        assert_eq!(money(0), "$0.00");
        assert_eq!(money(5), "$0.05");
        assert_eq!(money(123456), "$1,234.56");
        assert_eq!(money(10_000_000_000), "$100,000,000.00");
        assert_eq!(thousands(999), "999");
        assert_eq!(
            timestamp(time::macros::datetime!(2026-11-28 17:06:15.5 +01:00)),
            "2026-11-28 16:06:15 UTC"
        );
    }
}
