//! Secret references: a secret setting holds its value, `env:NAME` (another variable; Open
//! Cowork's `{env:NAME}` too) or `file:/path` (a mounted secret, such as a Kubernetes secret
//! volume), and every secret variable may instead be given as `<NAME>_REF` holding a reference,
//! as Open Cowork's `*_REF` variables are. A reference that cannot be resolved stops startup
//! naming the setting and the variable or file, never a value.

use std::collections::HashMap;
use std::io::Read;

use super::{ConfigError, Secret};

/// The variables that hold secrets.
pub const SECRET_VARIABLES: [&str; 8] = [
    "OPEN_COWORK_GATEWAY_ADMIN_TOKEN",
    "OPEN_COWORK_GATEWAY_SERVICE_TOKEN",
    "OPEN_COWORK_GATEWAY_DATABASE_URL",
    "OPEN_COWORK_CLOUD_DATABASE_URL",
    "OPEN_COWORK_CLOUD_TOKEN_HASH_KEY",
    "OPEN_COWORK_CLOUD_HEADER_AUTH_SECRET",
    "OPEN_COWORK_CLOUD_OPENAI_API_KEY",
    "OPENAI_API_KEY",
];

/// The largest secret file read (a secret is short; anything bigger is a wrong path).
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Whether `value` is a reference rather than a literal secret.
pub fn is_reference(value: &str) -> bool {
    reference_of(value).is_some()
}

enum Reference<'a> {
    Env(&'a str),
    File(&'a str),
}

fn reference_of(value: &str) -> Option<Reference<'_>> {
    if let Some(name) = value.strip_prefix("env:") {
        return Some(Reference::Env(name));
    }
    if let Some(name) = value.strip_prefix("{env:").and_then(|rest| rest.strip_suffix('}')) {
        return Some(Reference::Env(name));
    }
    value.strip_prefix("file:").map(Reference::File)
}

/// Resolves `value` of the setting at `path`: a reference is looked up, a literal kept.
pub fn resolve_reference(path: &str, value: String, env: &HashMap<String, String>) -> Result<Secret, ConfigError> {
    match reference_of(&value) {
        None => Ok(Secret::new(value)),
        Some(Reference::Env(name)) => match env.get(name).filter(|v| !v.trim().is_empty()) {
            Some(found) => Ok(Secret::new(found.clone())),
            None => {
                Err(ConfigError::invalid(path, &format!("refers to environment variable {name}, which is not set")))
            }
        },
        Some(Reference::File(file)) => read_secret_file(path, file).map(Secret::new),
    }
}

fn read_secret_file(path: &str, file: &str) -> Result<String, ConfigError> {
    let refused = |why: &str| ConfigError::invalid(path, &format!("refers to file {file}, which {why}"));
    if !file.starts_with('/') {
        return Err(refused("is not an absolute path"));
    }
    let handle = std::fs::File::open(file).map_err(|e| refused(&format!("cannot be read ({})", e.kind())))?;
    let mut text = String::new();
    handle
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| refused(&format!("cannot be read as text ({})", e.kind())))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(refused("is larger than 64 KiB"));
    }
    // Secret files usually end with a newline that is not part of the secret.
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.trim().is_empty() {
        return Err(refused("is empty"));
    }
    Ok(secret.to_owned())
}

/// `env` with every secret variable's reference resolved: `<NAME>_REF` (a reference) or a
/// reference in `<NAME>` itself becomes the secret under `<NAME>`.
pub fn resolve_secret_variables(env: &HashMap<String, String>) -> Result<HashMap<String, String>, ConfigError> {
    let mut resolved = env.clone();
    for name in SECRET_VARIABLES {
        let reference_name = format!("{name}_REF");
        let direct = env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let by_reference = env.get(&reference_name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let secret = match (direct, by_reference) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(&reference_name, &format!("and {name} are both set; set one")));
            }
            (None, Some(reference)) if !is_reference(reference) => {
                return Err(ConfigError::invalid(&reference_name, "must be env:NAME or file:/path"));
            }
            (None, Some(reference)) => resolve_reference(&reference_name, reference.to_owned(), env)?,
            (Some(value), None) if is_reference(value) => resolve_reference(name, value.to_owned(), env)?,
            _ => continue,
        };
        resolved.insert(name.to_owned(), secret.expose().to_owned());
        // Resolved once: a second pass over the result finds the value alone.
        resolved.remove(&reference_name);
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn references_resolve_from_variables_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin-token");
        std::fs::write(&file, "token-from-a-mounted-secret-0123456789\n").unwrap();
        let file_ref = format!("file:{}", file.display());
        let vars = env(&[
            ("OPEN_COWORK_GATEWAY_ADMIN_TOKEN_REF", &file_ref),
            ("OPEN_COWORK_GATEWAY_SERVICE_TOKEN", "env:MY_TOKEN"),
            ("MY_TOKEN", "occ_tok_from_another_variable"),
            ("OPEN_COWORK_CLOUD_TOKEN_HASH_KEY", "a-literal-key-stays-as-it-is-0123456789"),
        ]);
        let resolved = resolve_secret_variables(&vars).unwrap();
        assert_eq!(resolved["OPEN_COWORK_GATEWAY_ADMIN_TOKEN"], "token-from-a-mounted-secret-0123456789");
        assert_eq!(resolved["OPEN_COWORK_GATEWAY_SERVICE_TOKEN"], "occ_tok_from_another_variable");
        assert_eq!(resolved["OPEN_COWORK_CLOUD_TOKEN_HASH_KEY"], "a-literal-key-stays-as-it-is-0123456789");
        assert!(!resolved.contains_key("OPEN_COWORK_CLOUD_DATABASE_URL"));
        assert_eq!(resolve_secret_variables(&resolved).unwrap(), resolved, "resolving twice changes nothing");
        let braces = resolve_reference("x", "{env:MY_TOKEN}".into(), &vars).unwrap();
        assert_eq!(braces.expose(), "occ_tok_from_another_variable");
    }

    #[test]
    fn unresolvable_references_name_the_setting_never_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let cases = [
            (env(&[("OPEN_COWORK_GATEWAY_ADMIN_TOKEN_REF", "env:NOT_SET")]), "NOT_SET, which is not set"),
            (
                env(&[("OPEN_COWORK_GATEWAY_ADMIN_TOKEN_REF", "file:/no/such/file")]),
                "/no/such/file, which cannot be read",
            ),
            (env(&[("OPEN_COWORK_GATEWAY_ADMIN_TOKEN_REF", "file:relative/path")]), "is not an absolute path"),
            (env(&[("OPEN_COWORK_GATEWAY_ADMIN_TOKEN_REF", &format!("file:{}", empty.display()))]), "is empty"),
            (
                env(&[("OPEN_COWORK_GATEWAY_ADMIN_TOKEN_REF", "the-secret-itself-9876543210")]),
                "must be env:NAME or file:/path",
            ),
            (
                env(&[
                    ("OPEN_COWORK_GATEWAY_ADMIN_TOKEN_REF", "env:X"),
                    ("OPEN_COWORK_GATEWAY_ADMIN_TOKEN", "y"),
                    ("X", "z"),
                ]),
                "are both set",
            ),
            (env(&[("OPEN_COWORK_CLOUD_DATABASE_URL", "file:/no/such/url")]), "OPEN_COWORK_CLOUD_DATABASE_URL"),
        ];
        for (vars, expected) in cases {
            let error = resolve_secret_variables(&vars).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains("the-secret-itself"), "{error}");
        }
    }
}
