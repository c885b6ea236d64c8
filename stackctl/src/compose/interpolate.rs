//! Compose variable interpolation in values: `$VAR`, `${VAR}`,
//! `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
//! `${VAR:?message}` and `${VAR?message}` (required), `${VAR:+alternative}`
//! and `${VAR+alternative}`, and `$$` for a literal `$`. This is how `compose.yaml` keeps its ports configurable, so a second
//! copy of the stack (a test's) can run beside the first.

use std::collections::BTreeSet;

use serde_yaml_ng::Value;

use super::diagnostic::Problem;
use super::positions::KeyPath;

/// One variable as a value of the file used it: its name, the text it
/// stood for there, and where that text came from. The project keeps the
/// set of these ([`super::Project::variables`]) so that nothing has to scan
/// the file for `${...}` again. A value may be a secret: never print it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Resolved {
    pub name: String,
    pub value: String,
    pub source: Source,
}

/// Where a [`Resolved`] value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// The environment (or the lookup the file was loaded with).
    Environment,
    /// The default written in the file (`${NAME:-DEFAULT}`, `${NAME-DEFAULT}`).
    Default,
    /// Neither: the empty string, with a warning.
    Unset,
}

/// Replaces variables in every string value of `value` (keys are left
/// alone). An error names the path of the value and what is wrong; each
/// variable used goes into `record`.
pub(super) fn interpolate(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    record: &mut BTreeSet<Resolved>,
) -> Result<(), (KeyPath, Problem)> {
    walk(value, &KeyPath::root(), lookup, record)
}

/// Notes one use of variable `name`.
fn note(record: &mut BTreeSet<Resolved>, name: &str, value: &str, source: Source) {
    record.insert(Resolved {
        name: name.to_owned(),
        value: value.to_owned(),
        source,
    });
}

fn walk(
    value: &mut Value,
    path: &KeyPath,
    lookup: &dyn Fn(&str) -> Option<String>,
    record: &mut BTreeSet<Resolved>,
) -> Result<(), (KeyPath, Problem)> {
    match value {
        Value::String(text) if text.contains('$') => {
            *text = substitute(text, lookup, record).map_err(|why| (path.clone(), why))?;
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &path.index(i), lookup, record)?;
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = key.as_str().map(str::to_owned).unwrap_or_default();
                walk(item, &path.key(key), lookup, record)?;
            }
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, path, lookup, record)?,
        _ => {}
    }
    Ok(())
}

/// Substitutes the variables of one string. Messages never repeat the
/// string itself: it may hold a password.
pub(super) fn substitute(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    record: &mut BTreeSet<Resolved>,
) -> Result<String, Problem> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(after) = rest.strip_prefix('{') {
            let end = closing_brace(after).ok_or_else(|| {
                Problem::new(
                    "a `${` has no closing `}`",
                    "close it, or write `$$` for a literal `$`",
                )
            })?;
            out.push_str(&expand(&after[..end], lookup, record)?);
            rest = &after[end + 1..];
        } else {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if len == 0 {
                return Err(Problem::new(
                    "a `$` is followed by no variable name",
                    "write `$$` for a literal `$`",
                ));
            }
            let name = &rest[..len];
            match lookup(name) {
                Some(value) => {
                    note(record, name, &value, Source::Environment);
                    out.push_str(&value);
                }
                None => note(record, name, "", Source::Unset),
            }
            rest = &rest[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The index of the `}` that closes a `${` whose inside starts `text`,
/// counting nested `${...}` (a default may itself use a variable).
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Expands the inside of `${...}`; a default or alternative is substituted
/// in turn.
fn expand(
    inner: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    record: &mut BTreeSet<Resolved>,
) -> Result<String, Problem> {
    let name_len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, modifier) = inner.split_at(name_len);
    if name.is_empty() {
        return Err(Problem::new(
            "a `${...}` names no variable",
            "write the variable's name inside, e.g. `${SHOP_API_PORT}`",
        ));
    }
    let value = lookup(name);
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let mut nested = |text: &str| substitute(text, lookup, record);
    // What the variable itself stood for, and where that came from; `None`
    // for `+` forms, whose text is the alternative, not the variable's value.
    let (text, source) = match modifier {
        "" if set => (value.unwrap_or_default(), Some(Source::Environment)),
        "" => (String::new(), Some(Source::Unset)),
        m if m.starts_with(":-") && !non_empty => (nested(&m[2..])?, Some(Source::Default)),
        m if m.starts_with('-') && !set => (nested(&m[1..])?, Some(Source::Default)),
        m if m.starts_with(":-") || m.starts_with('-') => {
            (value.unwrap_or_default(), Some(Source::Environment))
        }
        m if m.starts_with(":?") && !non_empty => return Err(required(name, &m[2..])),
        m if m.starts_with('?') && !set => return Err(required(name, &m[1..])),
        m if m.starts_with(":?") || m.starts_with('?') => {
            (value.unwrap_or_default(), Some(Source::Environment))
        }
        m if m.starts_with(":+") => (
            if non_empty {
                nested(&m[2..])?
            } else {
                String::new()
            },
            None,
        ),
        m if m.starts_with('+') => (if set { nested(&m[1..])? } else { String::new() }, None),
        _ => {
            return Err(Problem::new(
                format!("`${{{name}` is followed by something that is not a Compose modifier"),
                "use `:-`, `-`, `:?`, `?`, `:+` or `+`",
            ));
        }
    };
    if let Some(source) = source {
        note(record, name, &text, source);
    }
    Ok(text)
}

fn required(name: &str, message: &str) -> Problem {
    let problem = if message.is_empty() {
        format!("variable {name} is required but not set")
    } else {
        format!("variable {name} is required but not set ({message})")
    };
    Problem::new(problem, "set it in the environment")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("4000".into()),
            "EMPTY" => Some(String::new()),
            "HOST" => Some("db".into()),
            _ => None,
        }
    }

    fn sub(text: &str) -> Result<String, String> {
        substitute(text, &env, &mut BTreeSet::new()).map_err(|p| p.to_string())
    }

    #[test]
    fn every_form_substitutes() {
        assert_eq!(sub("0.0.0.0:${PORT:-3000}").unwrap(), "0.0.0.0:4000");
        assert_eq!(sub("0.0.0.0:${UNSET:-3000}").unwrap(), "0.0.0.0:3000");
        assert_eq!(sub("${EMPTY:-x}|${EMPTY-x}").unwrap(), "x|");
        assert_eq!(sub("$PORT/$UNSET.").unwrap(), "4000/.");
        assert_eq!(sub("cost: $$5").unwrap(), "cost: $5");
        assert_eq!(sub("${PORT:?needed}").unwrap(), "4000");
        assert_eq!(sub("${PORT:+set}${UNSET:+set}").unwrap(), "set");
    }

    #[test]
    fn defaults_may_use_variables_themselves() {
        assert_eq!(sub("${UNSET:-${HOST}:${PORT}}").unwrap(), "db:4000");
        assert_eq!(sub("${UNSET:-${ALSO_UNSET:-x}}y").unwrap(), "xy");
    }

    #[test]
    fn each_variable_is_recorded_with_its_value_and_where_it_came_from() {
        let mut record = BTreeSet::new();
        substitute(
            "$A ${B} ${C:-c} ${PORT} ${PORT:-1} ${HOST:+x}",
            &env,
            &mut record,
        )
        .unwrap();
        let seen: Vec<(&str, &str, Source)> = record
            .iter()
            .map(|r| (r.name.as_str(), r.value.as_str(), r.source))
            .collect();
        assert_eq!(
            seen,
            [
                ("A", "", Source::Unset),
                ("B", "", Source::Unset),
                ("C", "c", Source::Default),
                ("PORT", "4000", Source::Environment),
            ]
        );
    }

    #[test]
    fn required_and_malformed_variables_are_errors_that_do_not_repeat_the_value() {
        assert!(
            sub("${UNSET:?the API port}")
                .unwrap_err()
                .contains("UNSET is required")
        );
        assert!(sub("${EMPTY:?}").is_err());
        assert!(sub("${PORT").unwrap_err().contains("closing"));
        let err = sub("hunter2 $ 2").unwrap_err();
        assert!(err.contains("`$$`") && !err.contains("hunter2"), "{err}");
        assert!(
            sub("${PORT:=x}")
                .unwrap_err()
                .contains("not a Compose modifier")
        );
    }
}
