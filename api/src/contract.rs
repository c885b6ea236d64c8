//! The API's contract in one place: every limit a handler enforces, as a
//! constant, with the check the handler runs and the JSON Schema the OpenAPI
//! document states for it (`crate::openapi` applies [`schemas`]). Both come
//! from the same constants, so the document and the code cannot drift, and
//! a request the document calls valid is one the API accepts (schemathesis
//! checks exactly that in CI).
//!
//! Text rules are stated as regular expressions with explicit character
//! ranges: "printable" excludes the C0 and C1 control characters (Rust's
//! `char::is_control`), "blank" is Unicode White_Space (`char::is_whitespace`),
//! so the pattern and the check agree character for character.

use serde_json::{Value, json};

/// Rows per page, when the client does not say.
pub const DEFAULT_LIMIT: u32 = 20;
/// The most rows a page may have.
pub const MAX_LIMIT: u32 = 100;
/// The largest `offset` (offset paging is for the first pages; deeper ones
/// use the cursor).
pub const MAX_OFFSET: u64 = 1_000_000;
/// Ids are positive and fit a signed 64-bit integer (what JSON clients hold).
pub const MAX_ID: u64 = i64::MAX as u64;
/// A cursor: the id of the last row of the page before, in decimal.
pub const CURSOR_PATTERN: &str = "^[0-9]{1,18}$";
/// Longest product name and category, in characters.
pub const MAX_NAME: usize = 200;
pub const MAX_CATEGORY: usize = 64;
/// Longest search text, in characters.
pub const MAX_QUERY: usize = 100;
/// A SKU: 2 to 32 upper-case letters, digits and `-`, not starting with `-`.
pub const SKU_PATTERN: &str = "^[A-Z0-9][A-Z0-9-]{1,31}$";
/// Prices in cents, and stock.
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
pub const MAX_STOCK: u32 = 1_000_000;
/// An order's lines and each line's quantity.
pub const MAX_ITEMS: usize = 50;
pub const MAX_QUANTITY: u32 = 1000;
/// Longest e-mail address, in characters (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;
/// The `Idempotency-Key`: 1 to 128 visible ASCII characters.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[\\x21-\\x7e]{1,128}$";

/// C0 and C1 controls: `char::is_control`.
const CONTROLS: &str = "\\x00-\\x1f\\x7f-\\x9f";
/// Controls and Unicode White_Space: `is_control() || is_whitespace()`.
const CONTROLS_AND_BLANKS: &str =
    "\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/// Printable text with at least one character that is not blank.
pub fn text_pattern() -> String {
    format!("^[^{CONTROLS}]*[^{CONTROLS_AND_BLANKS}][^{CONTROLS}]*$")
}

/// `local@domain`: one `@`, no blanks or controls, a domain with a dot
/// that neither starts nor ends it.
pub fn email_pattern() -> String {
    let any = format!("[^@{CONTROLS_AND_BLANKS}]");
    let no_dot = format!("[^@.{CONTROLS_AND_BLANKS}]");
    format!("^{any}+@{no_dot}{any}*\\.{any}*{no_dot}$")
}

/// Printable text of 1 to `max` characters, not all blank.
pub fn text_ok(text: &str, max: usize) -> bool {
    let count = text.chars().count();
    (1..=max).contains(&count)
        && !text.chars().any(char::is_control)
        && text.chars().any(|c| !c.is_whitespace())
}

/// As [`SKU_PATTERN`] says.
pub fn sku_ok(sku: &str) -> bool {
    (2..=32).contains(&sku.len())
        && sku
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        && !sku.starts_with('-')
}

/// As [`email_pattern`] says, and at most [`MAX_EMAIL`] characters.
pub fn email_ok(email: &str) -> bool {
    let excluded = |c: char| c.is_control() || c.is_whitespace();
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.chars().count() <= MAX_EMAIL
        && !local.is_empty()
        && !domain.contains('@')
        && !email.chars().any(excluded)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

/// As [`IDEMPOTENCY_KEY_PATTERN`] says.
pub fn idempotency_key_ok(key: &str) -> bool {
    (1..=MAX_IDEMPOTENCY_KEY).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// As [`CURSOR_PATTERN`] says: the id the next page continues after.
pub fn cursor(text: &str) -> Option<u64> {
    ((1..=18).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Integers of request bodies as JSON Schema reads them: `464.0` is the
/// integer 464 (a number with no fraction is an integer in JSON Schema),
/// so the API takes it as one; `464.5` and strings are not integers.
pub mod whole {
    use serde::de::{Deserialize as _, Deserializer, Error as _};

    fn number<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        if let Some(i) = n.as_i64() {
            return Ok(i128::from(i));
        }
        if let Some(u) = n.as_u64() {
            return Ok(i128::from(u));
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e30 => Ok(f as i128),
            _ => Err(D::Error::custom(format!(
                "invalid value: {n}, expected an integer"
            ))),
        }
    }

    /// A required integer field.
    pub fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i128>,
    {
        let n = number(d)?;
        T::try_from(n).map_err(|_| D::Error::custom(format!("{n} is out of range")))
    }

    /// An optional integer field (`null` or absent: none).
    pub mod option {
        use serde::de::{Deserialize as _, Deserializer, Error as _};

        pub fn deserialize<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
        where
            D: Deserializer<'de>,
            T: TryFrom<i128>,
        {
            match Option::<serde_json::Value>::deserialize(d)? {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(value) => super::deserialize(value)
                    .map(Some)
                    .map_err(D::Error::custom),
            }
        }
    }
}

/// A schema fragment for an id.
pub fn id_schema() -> Value {
    json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID})
}

/// Where each limit goes in the OpenAPI document: a JSON pointer into the
/// document and the keywords to merge there. `crate::openapi` applies
/// them; a pointer that finds nothing is an error its test reports.
pub fn schemas() -> Vec<(String, Value)> {
    let text = |max: usize| json!({"minLength": 1, "maxLength": max, "pattern": text_pattern()});
    let price = json!({"minimum": 0, "maximum": MAX_PRICE_CENTS});
    let stock = json!({"minimum": 0, "maximum": MAX_STOCK});
    let product = |name: &str| format!("/components/schemas/{name}/properties");
    let mut out = Vec::new();
    for schema in ["NewProduct", "ProductChanges"] {
        let p = product(schema);
        out.push((
            format!("{p}/sku"),
            json!({"pattern": SKU_PATTERN, "minLength": 2, "maxLength": 32}),
        ));
        out.push((format!("{p}/name"), text(MAX_NAME)));
        out.push((format!("{p}/category"), text(MAX_CATEGORY)));
        out.push((format!("{p}/price_cents"), price.clone()));
        out.push((format!("{p}/stock"), stock.clone()));
        out.push((
            format!("/components/schemas/{schema}/additionalProperties"),
            json!(false),
        ));
    }
    let order = product("NewOrder");
    out.push((
        format!("{order}/customer_email"),
        json!({"minLength": 3, "maxLength": MAX_EMAIL, "pattern": email_pattern()}),
    ));
    out.push((
        format!("{order}/items"),
        json!({"minItems": 1, "maxItems": MAX_ITEMS}),
    ));
    out.push((
        "/components/schemas/NewOrder/additionalProperties".into(),
        json!(false),
    ));
    let item = product("NewOrderItem");
    out.push((format!("{item}/product_id"), id_schema()));
    out.push((
        format!("{item}/quantity"),
        json!({"minimum": 1, "maximum": MAX_QUANTITY}),
    ));
    out.push((
        "/components/schemas/NewOrderItem/additionalProperties".into(),
        json!(false),
    ));
    out
}

/// The query and header parameters' schemas, by operation and name.
pub fn parameters() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    let limit =
        json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT});
    let cursor = json!({"type": "string", "pattern": CURSOR_PATTERN, "example": "42"});
    let price =
        json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_PRICE_CENTS});
    vec![
        ("get", "/api/products", "limit", limit.clone()),
        ("get", "/api/products", "cursor", cursor.clone()),
        (
            "get",
            "/api/products",
            "offset",
            json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_OFFSET}),
        ),
        (
            "get",
            "/api/products",
            "category",
            json!({"type": "string", "minLength": 1, "maxLength": MAX_CATEGORY, "pattern": text_pattern(), "example": "audio"}),
        ),
        (
            "get",
            "/api/products",
            "q",
            json!({"type": "string", "maxLength": MAX_QUERY, "example": "speaker"}),
        ),
        ("get", "/api/products", "min_price", price.clone()),
        ("get", "/api/products", "max_price", price),
        ("get", "/api/orders", "limit", limit),
        ("get", "/api/orders", "cursor", cursor),
        (
            "get",
            "/api/orders",
            "status",
            json!({"type": "string", "enum": crate::routes::orders::OrderStatus::NAMES}),
        ),
        (
            "get",
            "/api/orders",
            "from",
            json!({"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}], "example": "2026-11-01"}),
        ),
        (
            "get",
            "/api/orders",
            "to",
            json!({"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}], "example": "2026-12-01T00:00:00Z"}),
        ),
        ("get", "/api/products/{id}", "id", id_schema()),
        ("patch", "/api/products/{id}", "id", id_schema()),
        ("delete", "/api/products/{id}", "id", id_schema()),
        ("get", "/api/orders/{id}", "id", id_schema()),
        (
            "get",
            "/api/products/sku/{sku}",
            "sku",
            json!({"type": "string", "pattern": SKU_PATTERN, "example": "AUD-001"}),
        ),
        (
            "post",
            "/api/orders",
            "Idempotency-Key",
            json!({"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN, "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY, "example": "3f2c9a0e-order-1"}),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules_read_printable_and_not_blank() {
        assert!(text_ok("Studio Headphones", MAX_NAME));
        assert!(text_ok("  x  ", MAX_NAME));
        assert!(text_ok("\u{1F3A7} \u{00e9}", MAX_NAME));
        assert!(!text_ok("", MAX_NAME));
        assert!(!text_ok(" \u{3000} ", MAX_NAME));
        assert!(!text_ok("tab\there", MAX_NAME));
        assert!(!text_ok("\u{85}", MAX_NAME));
        assert!(!text_ok(&"x".repeat(MAX_CATEGORY + 1), MAX_CATEGORY));
        assert!(
            text_ok(&"\u{e9}".repeat(MAX_CATEGORY), MAX_CATEGORY),
            "characters, not bytes"
        );
    }

    #[test]
    fn email_rules_match_the_pattern_they_publish() {
        for good in [
            "a@b.c",
            "first.last@example.com",
            "x@a..b",
            "\u{e9}@\u{e9}.fr",
        ] {
            assert!(email_ok(good), "{good}");
        }
        for bad in [
            "ab.c",
            "@b.c",
            "a@b",
            "a@.b.c",
            "a@b.c.",
            "a@b@c.d",
            " a@b.c",
            "a b@c.d",
            "a@b.c\u{3000}",
        ] {
            assert!(!email_ok(bad), "{bad}");
        }
        assert!(!email_ok(&format!("{}@b.c", "a".repeat(MAX_EMAIL))));
    }

    #[test]
    fn integers_may_be_written_with_a_zero_fraction() {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(deserialize_with = "whole::deserialize")]
            n: u32,
            #[serde(default, deserialize_with = "whole::option::deserialize")]
            m: Option<i64>,
        }
        let body: Body = serde_json::from_str(r#"{"n": 464.0, "m": -3}"#).unwrap();
        assert_eq!((body.n, body.m), (464, Some(-3)));
        let body: Body = serde_json::from_str(r#"{"n": 1}"#).unwrap();
        assert_eq!(body.m, None);
        for bad in [
            r#"{"n": 4.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": "4"}"#,
            r#"{"n": 1e40}"#,
        ] {
            assert!(serde_json::from_str::<Body>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursors_are_decimal_ids_and_keys_visible_ascii() {
        assert_eq!(cursor("42"), Some(42));
        assert_eq!(cursor("0"), Some(0));
        assert_eq!(cursor(&"9".repeat(18)), Some(999_999_999_999_999_999));
        for bad in ["", "-1", "4 2", "abc", &"9".repeat(19)] {
            assert_eq!(cursor(bad), None, "{bad}");
        }
        assert!(idempotency_key_ok("a"));
        assert!(idempotency_key_ok(&"~".repeat(128)));
        assert!(!idempotency_key_ok(&"a".repeat(129)));
        assert!(!idempotency_key_ok("has space"));
        assert!(!idempotency_key_ok(""));
    }
}
