//! Key/value sources of generators: `envs` files, `literals` and `files`,
//! parsed and validated as kustomize's kv loader does.

use crate::target::Loader;

/// A loading failure, described for the user.
pub type KvError = String;

/// Collects the pairs in kustomize's order: env files, literals, files.
pub fn load_pairs(
    loader: &Loader<'_>,
    envs: &[String],
    literals: &[String],
    files: &[String],
) -> Result<Vec<(String, Vec<u8>)>, KvError> {
    let mut pairs = Vec::new();
    for env in envs {
        let content = loader.read(env).map_err(|e| e.to_string())?;
        pairs.extend(env_pairs(&content, env)?);
    }
    for lit in literals {
        let (k, v) = parse_literal(lit)?;
        pairs.push((k, v.into_bytes()));
    }
    for source in files {
        let (key, path) = parse_file_source(source)?;
        let content = loader.read(&path).map_err(|e| e.to_string())?;
        pairs.push((key, content));
    }
    Ok(pairs)
}

fn parse_literal(source: &str) -> Result<(String, String), KvError> {
    match source.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), remove_quotes(v).to_string())),
        _ => Err(format!(
            "invalid literal source {source}, expected key=value"
        )),
    }
}

fn remove_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

fn parse_file_source(source: &str) -> Result<(String, String), KvError> {
    match source.matches('=').count() {
        0 => {
            let base = source
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(source);
            Ok((base.to_string(), source.to_string()))
        }
        1 if source.starts_with('=') => Err(format!(
            "missing key name for file path {:?} in source {source:?}",
            &source[1..]
        )),
        1 if source.ends_with('=') => Err(format!(
            "missing file path for key name {:?} in source {source:?}",
            &source[..source.len() - 1]
        )),
        1 => {
            let (k, p) = source.split_once('=').unwrap_or((source, ""));
            Ok((k.to_string(), p.to_string()))
        }
        _ => Err(format!(
            "source {source:?} key name or file path contains '='"
        )),
    }
}

fn env_pairs(content: &[u8], file: &str) -> Result<Vec<(String, Vec<u8>)>, KvError> {
    let text = std::str::from_utf8(content)
        .map_err(|_| format!("env file '{file}' is not valid UTF-8"))?;
    let mut pairs = Vec::new();
    for (n, raw) in text.split('\n').enumerate() {
        let mut line = raw.strip_suffix('\r').unwrap_or(raw);
        if n == 0 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        if !is_env_var_name(key) {
            return Err(format!(
                "env file '{file}' line {}: invalid env var name {key:?}: a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
                n + 1
            ));
        }
        pairs.push((key.to_string(), value.as_bytes().to_vec()));
    }
    Ok(pairs)
}

fn is_env_var_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '-' | '.' | '_'))
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// Whether `key` is a valid ConfigMap/Secret key.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_lose_matching_quotes_only() {
        assert_eq!(parse_literal("a=\"x\"").unwrap().1, "x");
        assert_eq!(parse_literal("a='x").unwrap().1, "'x");
        assert_eq!(parse_literal("a=b=c").unwrap().1, "b=c");
        assert!(parse_literal("=x").is_err());
    }

    #[test]
    fn env_files_skip_comments_and_keep_values_verbatim() {
        let pairs = env_pairs(b"# c\n\n  A=1 \nB=\"q\"\r\nC\n", "f").unwrap();
        let got: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v).unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("A".into(), "1 ".into()),
                ("B".into(), "\"q\"".into()),
                ("C".into(), "".into())
            ]
        );
    }

    #[test]
    fn file_sources_take_the_base_name() {
        assert_eq!(
            parse_file_source("dir/app.conf").unwrap(),
            ("app.conf".into(), "dir/app.conf".into())
        );
        assert_eq!(
            parse_file_source("k=dir/x").unwrap(),
            ("k".into(), "dir/x".into())
        );
    }
}
