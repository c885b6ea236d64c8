//! Numbers for people: cents as dollars with thousands separators (the
//! shared `servicekit::money`), times in UTC, and days of cover.

pub(crate) use servicekit::money::{dollars as money, thousands};

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
    fn times_read_in_utc() {
        assert_eq!(
            timestamp(time::macros::datetime!(2026-11-28 17:06:15.5 +01:00)),
            "2026-11-28 16:06:15 UTC"
        );
    }
}
