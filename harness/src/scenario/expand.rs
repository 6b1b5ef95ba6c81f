//! `${VAR}` expansion over the scenario text, before it is parsed.
//!
//! Values come from `-e KEY=VALUE` first, then the process environment, then
//! a default written in place (`${VAR:-default}`). Substituted values are
//! escaped for a TOML basic string, so a token holding `"` or `\` cannot
//! change the file's structure. `$${` writes a literal `${`.

use std::collections::BTreeMap;

/// Variable sources in priority order.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    pub cli: BTreeMap<String, String>,
}

impl Vars {
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.cli
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    }
}

/// One variable that could not be resolved, with its 1-based line and column.
#[derive(Debug)]
pub struct Unresolved {
    pub name: String,
    pub line: usize,
    pub col: usize,
    pub malformed: bool,
}

/// What expansion produced: the text, and every value it substituted for a
/// variable whose name marks it as secret.
pub struct Expanded {
    pub text: String,
    pub used: Vec<(String, String)>,
}

pub fn expand(src: &str, vars: &Vars) -> Result<Expanded, Unresolved> {
    let mut out = String::with_capacity(src.len());
    let mut used = Vec::new();
    for (ln, line) in src.split_inclusive('\n').enumerate() {
        // A comment line may mention ${VAR} without needing it set.
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        let mut col = 1;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            col += rest[..pos].chars().count();
            let after = &rest[pos..];
            if let Some(tail) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = tail;
                col += 3;
                continue;
            }
            let Some(body) = after.strip_prefix("${") else {
                out.push('$');
                rest = &after[1..];
                col += 1;
                continue;
            };
            let unresolved = |malformed, name: &str| Unresolved {
                name: name.to_string(),
                line: ln + 1,
                col,
                malformed,
            };
            let end = body
                .find('}')
                .ok_or_else(|| unresolved(true, body.trim_end()))?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            let nested = default.is_some_and(|d| d.contains("${"));
            if nested
                || name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(unresolved(true, expr));
            }
            let value = vars
                .lookup(name)
                .or_else(|| default.map(str::to_string))
                .ok_or_else(|| unresolved(false, name))?;
            escape_into(&value, &mut out);
            used.push((name.to_string(), value));
            col += expr.chars().count() + 3;
            rest = &body[end + 1..];
        }
        out.push_str(rest);
    }
    Ok(Expanded { text: out, used })
}

fn escape_into(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
}

/// Names that DESIGN.md treats as secret: their values are masked everywhere.
pub fn is_secret_name(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "APIKEY",
        "API_KEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|m| up.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars {
            cli: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn cli_values_win_and_defaults_fill_in() {
        let v = vars(&[("BASE_URL", "http://127.0.0.1:1/api")]);
        let e = expand("a = \"${BASE_URL}\"\nb = \"${NOPE_X1:-d}\"\n", &v).unwrap();
        assert_eq!(e.text, "a = \"http://127.0.0.1:1/api\"\nb = \"d\"\n");
    }

    #[test]
    fn values_cannot_break_out_of_a_string() {
        let v = vars(&[("TOKEN", "a\"b\\c")]);
        let e = expand("t = \"${TOKEN}\"", &v).unwrap();
        assert_eq!(e.text, "t = \"a\\\"b\\\\c\"");
        assert_eq!(e.used, vec![("TOKEN".into(), "a\"b\\c".into())]);
    }

    #[test]
    fn missing_variable_names_line_and_column() {
        let err = expand("x = 1\ny = \"${MISSING_VAR_Q}\"\n", &Vars::default())
            .err()
            .unwrap();
        assert_eq!(
            (err.name.as_str(), err.line, err.col),
            ("MISSING_VAR_Q", 2, 6)
        );
    }

    #[test]
    fn comments_are_not_expanded_and_nesting_is_refused() {
        let e = expand("# set ${UNSET_Q1}\na = 1\n", &Vars::default()).unwrap();
        assert_eq!(e.text, "# set ${UNSET_Q1}\na = 1\n");
        let err = expand("a = \"${A_Q:-${B_Q}}\"", &Vars::default())
            .err()
            .unwrap();
        assert!(err.malformed);
    }

    #[test]
    fn escaped_dollar_stays_literal() {
        let e = expand("a = \"$${X} $5\"", &Vars::default()).unwrap();
        assert_eq!(e.text, "a = \"${X} $5\"");
    }
}
