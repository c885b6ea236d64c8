//! Compose variable interpolation in values: `$VAR`, `${VAR}`,
//! `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
//! `${VAR:?message}` and `${VAR?message}` (required), `${VAR:+alternative}`
//! and `${VAR+alternative}`, and `$$` for a literal `$`. This is how `compose.yaml` keeps its ports configurable, so a second
//! copy of the stack (a test's) can run beside the first.

use serde_yaml_ng::Value;

use super::positions::KeyPath;

/// Replaces variables in every string value of `value` (keys are left
/// alone). An error names the path of the value and what is wrong.
pub(super) fn interpolate(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), (KeyPath, String)> {
    walk(value, &KeyPath::root(), lookup)
}

fn walk(
    value: &mut Value,
    path: &KeyPath,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), (KeyPath, String)> {
    match value {
        Value::String(text) if text.contains('$') => {
            *text = substitute(text, lookup).map_err(|why| (path.clone(), why))?;
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &path.index(i), lookup)?;
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = key.as_str().map(str::to_owned).unwrap_or_default();
                walk(item, &path.key(key), lookup)?;
            }
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, path, lookup)?,
        _ => {}
    }
    Ok(())
}

/// Substitutes the variables of one string.
pub(super) fn substitute(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(after) = rest.strip_prefix('{') {
            let end = after.find('}').ok_or_else(|| {
                format!("`${{` without a closing `}}` in `{text}`; write `$$` for a literal `$`")
            })?;
            out.push_str(&expand(&after[..end], lookup)?);
            rest = &after[end + 1..];
        } else {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if len == 0 {
                return Err(format!(
                    "a lone `$` in `{text}`; write `$$` for a literal `$`"
                ));
            }
            out.push_str(&lookup(&rest[..len]).unwrap_or_default());
            rest = &rest[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Expands the inside of `${...}`.
fn expand(inner: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let name_len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, modifier) = inner.split_at(name_len);
    if name.is_empty() {
        return Err(format!("`${{{inner}}}` names no variable"));
    }
    let value = lookup(name);
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    Ok(match modifier {
        "" => value.unwrap_or_default(),
        m if m.starts_with(":-") => {
            if non_empty {
                value.unwrap_or_default()
            } else {
                m[2..].to_owned()
            }
        }
        m if m.starts_with('-') => {
            if set {
                value.unwrap_or_default()
            } else {
                m[1..].to_owned()
            }
        }
        m if m.starts_with(":?") && !non_empty => return Err(required(name, &m[2..])),
        m if m.starts_with('?') && !set => return Err(required(name, &m[1..])),
        m if m.starts_with(":?") || m.starts_with('?') => value.unwrap_or_default(),
        m if m.starts_with(":+") => {
            if non_empty {
                m[2..].to_owned()
            } else {
                String::new()
            }
        }
        m if m.starts_with('+') => {
            if set {
                m[1..].to_owned()
            } else {
                String::new()
            }
        }
        other => {
            return Err(format!(
                "`{other}` after `${{{name}` is not a Compose modifier; use `:-`, `-`, `:?`, `?`, `:+` or `+`"
            ));
        }
    })
}

fn required(name: &str, message: &str) -> String {
    if message.is_empty() {
        format!("variable {name} is required but not set; set it in the environment")
    } else {
        format!("variable {name} is required but not set ({message}); set it in the environment")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("4000".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn every_form_substitutes() {
        assert_eq!(
            substitute("0.0.0.0:${PORT:-3000}", &env).unwrap(),
            "0.0.0.0:4000"
        );
        assert_eq!(
            substitute("0.0.0.0:${UNSET:-3000}", &env).unwrap(),
            "0.0.0.0:3000"
        );
        assert_eq!(substitute("${EMPTY:-x}|${EMPTY-x}", &env).unwrap(), "x|");
        assert_eq!(substitute("$PORT/$UNSET.", &env).unwrap(), "4000/.");
        assert_eq!(substitute("cost: $$5", &env).unwrap(), "cost: $5");
        assert_eq!(substitute("${PORT:?needed}", &env).unwrap(), "4000");
        assert_eq!(
            substitute("${PORT:+set}${UNSET:+set}", &env).unwrap(),
            "set"
        );
    }

    #[test]
    fn required_and_malformed_variables_are_errors() {
        assert!(
            substitute("${UNSET:?the API port}", &env)
                .unwrap_err()
                .contains("UNSET is required")
        );
        assert!(substitute("${EMPTY:?}", &env).is_err());
        assert!(substitute("${PORT", &env).unwrap_err().contains("closing"));
        assert!(substitute("a $ b", &env).unwrap_err().contains("`$$`"));
        assert!(
            substitute("${PORT:=x}", &env)
                .unwrap_err()
                .contains("not a Compose modifier")
        );
    }
}
