//! Debian version numbers ordered as dpkg orders them (`[epoch:]upstream[-revision]`,
//! with `~` sorting before everything, even the end of the string), so
//! `3.0.11-1~deb12u2` < `3.0.15-1~deb12u1` < `3.0.15-1`.

use std::cmp::Ordering;

/// Compares two Debian versions the way `dpkg --compare-versions` does.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| compare_part(ua, ub))
        .then_with(|| compare_part(ra, rb))
}

/// `(epoch, upstream, revision)`.
fn split(version: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match version.split_once(':') {
        Some((epoch, rest)) if epoch.bytes().all(|b| b.is_ascii_digit()) => {
            (epoch.parse().unwrap_or(0), rest)
        }
        _ => (0, version),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// A character's weight in the non-digit parts: `~` first, then the end of
/// the part, then letters, then everything else.
fn weight(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn compare_part(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        // The non-digit prefix, character by character.
        loop {
            let ca = a.first().copied().filter(|c| !c.is_ascii_digit());
            let cb = b.first().copied().filter(|c| !c.is_ascii_digit());
            if ca.is_none() && cb.is_none() {
                break;
            }
            match weight(ca).cmp(&weight(cb)) {
                Ordering::Equal => {}
                other => return other,
            }
            a = &a[ca.is_some() as usize..];
            b = &b[cb.is_some() as usize..];
        }
        // The digit run, as a number.
        let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
        let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let na = trim_zeros(&a[..da]);
        let nb = trim_zeros(&b[..db]);
        match na.len().cmp(&nb.len()).then_with(|| na.cmp(nb)) {
            Ordering::Equal => {}
            other => return other,
        }
        a = &a[da..];
        b = &b[db..];
    }
    Ordering::Equal
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let first = digits
        .iter()
        .position(|d| *d != b'0')
        .unwrap_or(digits.len());
    &digits[first..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn versions_order_as_dpkg_orders_them() {
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.10", "1.9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1:1.0", "2.0", Greater),
            ("3.0.11-1~deb12u2", "3.0.15-1~deb12u1", Less),
            ("3.0.15-1~deb12u1", "3.0.15-1", Less),
            ("10.11.6-0+deb12u1", "10.11.11-0+deb12u1", Less),
            ("2.36-9+deb12u7", "2.36-9+deb12u10", Less),
            ("1.0a", "1.0", Greater),
            ("1.0-1", "1.0-1+b1", Less),
            ("007", "7", Equal),
            ("252.30-1~deb12u2", "252.38-1~deb12u1", Less),
        ] {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }
}
