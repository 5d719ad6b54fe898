//! The deploy kit's contracts kept in step with this binary: every fail-closed check that
//! `deploy/security/security-gates.json` lists for the gateway is broken, one at a time, from a
//! passing `public_production` configuration and must be refused naming its setting; every
//! refusal the gateway can give must be listed there; and `deploy/topologies/topology-profiles.json`
//! names files that exist and gates that are defined.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::*;

const GATES: &str = include_str!("../../../deploy/security/security-gates.json");
const TOPOLOGIES: &str = include_str!("../../../deploy/topologies/topology-profiles.json");

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn gate(id: &str) -> Value {
    let gates = json(GATES);
    gates["gates"].as_array().unwrap().iter().find(|g| g["id"] == id).cloned().unwrap()
}

/// A `public_production` gateway that keeps every rule (its admin token in a file).
fn baseline(dir: &Path) -> HashMap<String, String> {
    let token = dir.join("admin-token");
    std::fs::write(&token, "k8Jq2vN5xW9zR4tY7uB3mC6pL1sD0fGhQe\n").unwrap();
    let providers = r#"[{"id": "webhook", "kind": "webhook", "credentials": {"sharedSecret": "env:HOOK_SECRET"},
        "settings": {"deliveryUrl": "https://hooks.example.org/in"}}]"#;
    [
        ("OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER", "public_production"),
        ("OPEN_COWORK_GATEWAY_DATABASE_URL", "postgres://gw:pw@db.internal/gw?sslmode=verify-full"),
        ("OPEN_COWORK_GATEWAY_ADMIN_TOKEN_REF", &format!("file:{}", token.display())),
        ("OPEN_COWORK_GATEWAY_PUBLIC_URL", "https://gateway.example.org"),
        ("OPEN_COWORK_GATEWAY_HOST", "0.0.0.0"),
        ("OPEN_COWORK_GATEWAY_PROVIDERS", providers),
        ("HOOK_SECRET", "a-webhook-secret-from-the-environment-0123"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// `env` with `changes` applied (an empty value unsets the variable; `configFile` is written to
/// a file in `dir` that `OPEN_COWORK_CONFIG_PATH` names).
fn with(
    env: &HashMap<String, String>,
    changes: &serde_json::Map<String, Value>,
    dir: &Path,
) -> HashMap<String, String> {
    let mut env = env.clone();
    for (name, value) in changes {
        match (name.as_str(), value.as_str().unwrap_or_default()) {
            ("configFile", content) => {
                let path = dir.join("open-cowork.config.json");
                std::fs::write(&path, content).unwrap();
                env.insert("OPEN_COWORK_CONFIG_PATH".to_owned(), path.display().to_string());
            }
            (_, "") => {
                env.remove(name);
            }
            (_, value) => {
                env.insert(name.clone(), value.to_owned());
            }
        }
    }
    env
}

/// Whether `setting` (a refused setting) is what `pattern` names; `*` stands for any part.
pub(super) fn names(pattern: &str, setting: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = (parts[0], &parts[1..]);
    let Some(mut left) = setting.strip_prefix(first) else { return false };
    for (i, part) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        if last {
            return left.ends_with(part);
        }
        match left.find(part) {
            Some(at) => left = &left[at + part.len()..],
            None => return false,
        }
    }
    left.is_empty()
}

/// The rules the configuration from `env` breaks, as the binary loads it.
fn refusals(env: &HashMap<String, String>) -> Vec<String> {
    let env = resolve_secret_variables(env).unwrap();
    let mut config = GatewayConfig::load(Path::new("/nonexistent"), &env, &Flags::default())
        .unwrap_or_else(|e| panic!("the configuration must load to reach the tier's rules: {e}"));
    if env.contains_key("OPEN_COWORK_CLOUD_BASE_URL") {
        config.remote_cloud = Some(remote::RemoteCloud::from_env(&env).unwrap());
    }
    production::refusals(&config).rules().to_vec()
}

#[test]
fn every_listed_fail_closed_check_is_enforced_naming_its_setting() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = baseline(dir.path());
    assert_eq!(refusals(&baseline), Vec::<String>::new(), "the baseline keeps every rule");
    let gate = gate("gateway-postgres");
    assert_eq!(gate["tierVariable"], production::TIER_VARIABLE);
    let checks = gate["failClosedChecks"].as_array().unwrap();
    assert!(checks.len() >= 8);
    for check in checks {
        let setting = check["setting"].as_str().unwrap();
        let refusal = check["refusal"].as_str().unwrap();
        let broken = refusals(&with(&baseline, check["break"].as_object().unwrap(), dir.path()));
        let found = broken.iter().any(|rule| {
            let named = rule.split(' ').next().unwrap_or_default();
            names(setting, named) && rule.contains(refusal)
        });
        assert!(found, "breaking {setting} ({}) gave {broken:#?}", check["rule"]);
    }
}

#[test]
fn every_refusal_the_gateway_gives_is_listed() {
    let listed: HashSet<String> = gate("gateway-postgres")["failClosedChecks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["setting"].as_str().unwrap().to_owned())
        .collect();
    // Everything that can be broken at once (the loopback bypass excludes a public URL).
    let providers = r#"[{"id": "fake", "kind": "fake"}, {"id": "webhook", "kind": "webhook",
        "credentials": {"sharedSecret": "a-literal-shared-secret-0123456789"},
        "settings": {"deliveryUrl": "https://hooks.example.org/in"}}]"#;
    let mut env: HashMap<String, String> = [
        ("OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER", "public_production"),
        ("OPEN_COWORK_GATEWAY_PROVIDERS", providers),
        ("OPEN_COWORK_GATEWAY_ALLOW_LOOPBACK_OPERATOR_BYPASS", "true"),
        ("OPEN_COWORK_CLOUD_BASE_URL", "http://cloud.internal:8787"),
        ("OPEN_COWORK_GATEWAY_SERVICE_TOKEN", "occ_tok_AAAAAAAAAAAAAAAA_secret"),
        ("OPEN_COWORK_GATEWAY_ALLOW_INSECURE_HTTP", "true"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = r#"{"gateway": {"server": {"adminToken": "Zr8mQ2xW5vN9kT4yB7uC3pL6sD1fGhJe0a"}},
        "cloud": {"openai": {"apiKey": "sk-a-literal-key-0123456789abcdef"}}}"#;
    let path = dir.path().join("open-cowork.config.json");
    std::fs::write(&path, file).unwrap();
    env.insert("OPEN_COWORK_CONFIG_PATH".to_owned(), path.display().to_string());
    let mut given = refusals(&env);
    env.insert("OPEN_COWORK_GATEWAY_DATABASE_URL".into(), "postgres://gw@db.internal/gw".into());
    given.extend(refusals(&env));
    assert!(given.len() >= 8, "{given:#?}");
    for rule in given {
        let setting = rule.split(' ').next().unwrap_or_default();
        let is_listed = listed.iter().any(|pattern| names(pattern, setting));
        assert!(is_listed, "{setting} is refused but not listed in security-gates.json: {rule}");
    }
}

#[test]
fn setting_patterns_match_paths() {
    assert!(names("*.credentials.*", "OPEN_COWORK_GATEWAY_PROVIDERS[1].credentials.sharedSecret"));
    assert!(names("*.credentials.*", "gateway.providers[0].credentials.botToken"));
    assert!(!names("*.credentials.*", "gateway.server.adminToken"));
    assert!(names("OPEN_COWORK_CLOUD_ROLE", "OPEN_COWORK_CLOUD_ROLE"));
    assert!(!names("OPEN_COWORK_CLOUD_ROLE", "OPEN_COWORK_CLOUD_ROLES"));
}

#[test]
fn topology_profiles_name_files_that_exist_and_gates_that_are_defined() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let gates: HashSet<String> =
        json(GATES)["gates"].as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap().to_owned()).collect();
    let profiles = json(TOPOLOGIES);
    let profiles = profiles["profiles"].as_array().unwrap();
    let ids: Vec<&str> = profiles.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["standalone-sqlite", "standalone-postgres", "split", "scale-out"]);
    for profile in profiles {
        let id = profile["id"].as_str().unwrap();
        assert!(gates.contains(profile["securityGate"].as_str().unwrap()), "{id}: unknown gate");
        let mut files = vec![profile["compose"].as_str().unwrap().to_owned()];
        files.extend(profile["systemd"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_owned()));
        files.push(format!("{}/Chart.yaml", profile["helm"]["chart"].as_str().unwrap()));
        for file in files {
            assert!(root.join(&file).is_file(), "{id}: {file} does not exist");
        }
        // SQLite is one process (the binary refuses a second); Postgres may have more.
        match profile["database"].as_str().unwrap() {
            "sqlite" => assert_eq!(profile["maxReplicas"], 1, "{id}"),
            "postgres" => {}
            other => panic!("{id}: unknown database {other}"),
        }
        for tier in profile["tiers"].as_array().unwrap() {
            let env = HashMap::from([("T".to_owned(), tier.as_str().unwrap().to_owned())]);
            assert!(cowork_cloud::config::tier::DeploymentTier::from_env(&env, "T").is_ok(), "{id}: {tier}");
        }
        let production = profile["tiers"].as_array().unwrap().iter().any(|t| t == "public_production");
        assert_eq!(production, profile["database"] == "postgres", "{id}: public_production needs Postgres");
    }
}
