//! The instance id a replica registers under (`OPEN_COWORK_GATEWAY_INSTANCE_ID`), normalized as
//! Open Cowork does: lower case, `[a-z0-9_.:-]`, any other run of characters one `-`, at most
//! 96 characters.

use std::collections::HashMap;

/// The longest instance id kept.
const MAX_CHARS: usize = 96;

/// `raw` normalized; `None` when nothing usable is left.
pub fn normalize(raw: &str) -> Option<String> {
    let mut id = String::with_capacity(raw.len().min(MAX_CHARS));
    let mut dash = false;
    for c in raw.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-') {
            id.push(c);
            dash = false;
        } else if !dash {
            id.push('-');
            dash = true;
        }
    }
    let id: String = id.trim_matches('-').chars().take(MAX_CHARS).collect();
    let id = id.trim_end_matches('-').to_owned();
    (!id.is_empty()).then_some(id)
}

/// The configured instance id, else the host name with a random suffix (so two replicas on one
/// host differ; set the id to keep a replica's share across restarts).
pub fn from_env(env: &HashMap<String, String>) -> String {
    if let Some(id) = env.get("OPEN_COWORK_GATEWAY_INSTANCE_ID").and_then(|raw| normalize(raw)) {
        return id;
    }
    let host = env.get("HOSTNAME").and_then(|raw| normalize(raw)).unwrap_or_else(|| "gateway".to_owned());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", host.chars().take(MAX_CHARS - 9).collect::<String>(), &suffix[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_normalized_as_open_cowork_does() {
        assert_eq!(normalize("Gateway Pod 01/Blue").as_deref(), Some("gateway-pod-01-blue"));
        assert_eq!(normalize("  gw_1.zone:a  ").as_deref(), Some("gw_1.zone:a"));
        assert_eq!(normalize("//").as_deref(), None);
        assert_eq!(normalize(&"x".repeat(200)).map(|id| id.len()), Some(96));
    }

    #[test]
    fn the_default_is_the_host_with_a_suffix() {
        let env = HashMap::from([("HOSTNAME".to_owned(), "Node A".to_owned())]);
        let id = from_env(&env);
        assert!(id.starts_with("node-a-") && id.len() == "node-a-".len() + 8, "{id}");
        assert_ne!(from_env(&env), id, "two processes on one host differ");
        let env = HashMap::from([("OPEN_COWORK_GATEWAY_INSTANCE_ID".to_owned(), "Pod 3".to_owned())]);
        assert_eq!(from_env(&env), "pod-3");
    }
}
