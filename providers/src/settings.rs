//! Reading a provider's `settings` object from the config: absent or null is empty, anything but
//! an object is refused, and unknown fields are refused by name.

use serde_json::{Map, Value};

/// The settings as a map (an owned copy; config is read once at startup).
pub(crate) fn settings_object(value: &Value, known: &[&str], kind: &str) -> Result<Map<String, Value>, String> {
    let map = match value {
        Value::Null => Map::new(),
        Value::Object(map) => map.clone(),
        _ => return Err("settings must be an object".into()),
    };
    if let Some(unknown) = map.keys().find(|key| !known.contains(&key.as_str())) {
        return Err(format!("settings.{unknown} is not a {kind} setting (known: {})", known.join(", ")));
    }
    Ok(map)
}
