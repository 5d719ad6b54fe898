//! Reading settings: one JSON object of the config file, remembering the path of every key so
//! errors name the setting and leftover keys can be reported (unknown: rejected; Open Cowork keys
//! this build does not implement yet: accepted with a warning), and typed environment
//! variables (secret references are `references.rs`).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::ConfigError;

/// A JSON object being read, with its dotted path.
pub struct ObjectReader {
    path: String,
    map: Map<String, Value>,
}

impl ObjectReader {
    /// Wraps `value`, which must be an object.
    pub fn new(path: &str, value: Value) -> Result<Self, ConfigError> {
        match value {
            Value::Object(map) => Ok(Self { path: path.to_owned(), map }),
            _ => Err(ConfigError::invalid(path, "must be an object")),
        }
    }

    /// The full path of `key`.
    pub fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }

    /// Removes and returns `key`, if present and not null.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    /// The keys still unread.
    pub fn keys(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    /// Removes `key` as a nested object reader.
    pub fn object(&mut self, key: &str) -> Result<Option<ObjectReader>, ConfigError> {
        let path = self.path_of(key);
        self.take(key).map(|v| ObjectReader::new(&path, v)).transpose()
    }

    /// Removes `key` as a string.
    pub fn string(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ConfigError::invalid(&self.path_of(key), "must be a string")),
        }
    }

    /// Removes `key` as a boolean.
    pub fn boolean(&mut self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(ConfigError::invalid(&self.path_of(key), "must be true or false")),
        }
    }

    /// Removes `key` as an integer within `range`.
    pub fn integer(&mut self, key: &str, range: std::ops::RangeInclusive<u64>) -> Result<Option<u64>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(value) => {
                let path = self.path_of(key);
                let n = value.as_u64().ok_or_else(|| ConfigError::invalid(&path, "must be a whole number"))?;
                check_range(&path, n, range).map(Some)
            }
        }
    }

    /// Reports what is left: keys in `deferred` (Open Cowork settings not implemented yet) become
    /// warnings, anything else is an error naming its path.
    pub fn finish(self, deferred: &[&str], warnings: &mut Vec<String>) -> Result<(), ConfigError> {
        for key in self.map.keys() {
            let path = self.path_of(key);
            if deferred.contains(&key.as_str()) {
                warnings.push(format!("config: `{path}` is not supported by this version yet and is ignored"));
            } else {
                return Err(ConfigError::invalid(&path, "is not a known setting"));
            }
        }
        Ok(())
    }
}

/// Checks `n` against `range`, naming `path` in the error.
pub fn check_range(path: &str, n: u64, range: std::ops::RangeInclusive<u64>) -> Result<u64, ConfigError> {
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(ConfigError::invalid(path, &format!("must be between {} and {}", range.start(), range.end())))
    }
}

/// The variable `name`, trimmed, when set and not blank.
pub fn env_get<'a>(env: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    env.get(name).map(String::as_str).map(str::trim).filter(|v| !v.is_empty())
}

/// The variable `name` as an integer within `range`.
pub fn env_integer(
    env: &HashMap<String, String>,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, ConfigError> {
    let Some(raw) = env_get(env, name) else { return Ok(None) };
    let n = raw.parse::<u64>().map_err(|_| ConfigError::invalid(name, "must be a whole number"))?;
    check_range(name, n, range).map(Some)
}

/// The variable `name` as a boolean (`true`/`1`/`yes`, `false`/`0`/`no`).
pub fn env_boolean(env: &HashMap<String, String>, name: &str) -> Result<Option<bool>, ConfigError> {
    match env_get(env, name).map(str::to_ascii_lowercase).as_deref() {
        None => Ok(None),
        Some("true" | "1" | "yes") => Ok(Some(true)),
        Some("false" | "0" | "no") => Ok(Some(false)),
        Some(_) => Err(ConfigError::invalid(name, "must be true or false")),
    }
}
