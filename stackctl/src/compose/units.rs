//! Durations (`1m30s`) and byte sizes (`512m`) as Compose writes them, parsed
//! once so that the rest of stackctl works with numbers and a bad value is
//! reported where it was written.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::diagnostic::Problem;

/// A Compose duration such as `10s`, `1m30s` or `500ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ComposeDuration(pub Duration);

/// A byte size such as `512m`, `1g` or a plain number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// Parses a Compose duration: one or more `<number><unit>` parts, units `h`,
/// `m`, `s`, `ms`, `us` (or `µs`) and `ns`, as in Go's `time.ParseDuration`.
pub fn parse_duration(text: &str) -> Result<Duration, Problem> {
    let bad = || {
        Problem::new(
            format!("`{text}` is not a duration"),
            "write a number with a unit, e.g. `10s`, `1m30s` or `500ms`",
        )
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if number_len == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// Parses a byte size the way the Docker CLI does: binary multiples, units
/// `b`, `k`/`kb`, `m`/`mb`, `g`/`gb`, case-insensitive.
pub fn parse_size(text: &str) -> Result<u64, Problem> {
    let bad = || {
        Problem::new(
            format!("`{text}` is not a size"),
            "write a number of bytes or a number with a unit, e.g. `512m` or `1g`",
        )
    };
    let trimmed = text.trim().to_ascii_lowercase();
    let number_len = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    if number_len == 0 {
        return Err(bad());
    }
    let number: f64 = trimmed[..number_len].parse().map_err(|_| bad())?;
    let multiplier: u64 = match trimmed[number_len..].trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Writes a duration in the canonical Compose form (`1m30s`, `500ms`).
pub fn format_duration(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let nanos = duration.subsec_nanos();
    let (ms, us, ns) = (nanos / 1_000_000, nanos / 1000 % 1000, nanos % 1000);
    for (value, unit) in [
        (h, "h"),
        (m, "m"),
        (s, "s"),
        (ms.into(), "ms"),
        (us.into(), "us"),
        (ns.into(), "ns"),
    ] {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    out
}

impl Serialize for ComposeDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for ComposeDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = ComposeDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `10s`, `1m30s` or `500ms`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse_duration(v).map(ComposeDuration).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(DurationVisitor)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as `512m`, `1g` or a number of bytes")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v).map(ByteSize).map_err(|_| {
                    E::custom(format!("`{v}` is not a size; sizes cannot be negative"))
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse_size(v).map(ByteSize).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit_and_combination() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
    }

    #[test]
    fn bad_durations_are_refused_with_an_example() {
        for bad in ["", "10", "ten seconds", "10 parsecs", "s", "1.2.3s", "-5s"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.fix.contains("e.g. `10s`"), "{bad}: {err}");
        }
    }

    #[test]
    fn durations_format_canonically_and_round_trip() {
        for text in ["1m30s", "500ms", "1h", "2s250ms", "0s"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }

    #[test]
    fn sizes_use_binary_multiples() {
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("1GB"), Ok(1 << 30));
        assert_eq!(parse_size("10k"), Ok(10 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("0.5g"), Ok(512 << 20));
    }

    #[test]
    fn bad_sizes_are_refused_with_an_example() {
        for bad in ["", "lots", "12 parsecs", "m"] {
            let err = parse_size(bad).unwrap_err();
            assert!(err.fix.contains("e.g. `512m`"), "{bad}: {err}");
        }
    }
}
