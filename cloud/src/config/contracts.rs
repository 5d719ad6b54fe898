//! `deploy/security/security-gates.json` kept in step with this binary: every fail-closed check
//! listed for the cloud is broken, one at a time, from a passing `public_production`
//! configuration and must be refused naming its setting, and every refusal the cloud can give
//! must be listed there.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

use super::production;
use super::server::{ServeConfig, ServeFlags};

const GATES: &str = include_str!("../../../deploy/security/security-gates.json");

fn gate() -> Value {
    let gates: Value = serde_json::from_str(GATES).unwrap();
    gates["gates"].as_array().unwrap().iter().find(|g| g["id"] == "cloud").cloned().unwrap()
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// A `public_production` API process that keeps every rule.
fn baseline() -> HashMap<String, String> {
    env(&[
        ("OPEN_COWORK_CLOUD_DEPLOYMENT_TIER", "public_production"),
        ("OPEN_COWORK_CLOUD_DATABASE_URL", "postgres://cloud:pw@db.internal/cloud?sslmode=verify-full"),
        ("OPEN_COWORK_CLOUD_TOKEN_HASH_KEY", "Zr8mQ2xW5vN9kT4yB7uC3pL6sD1fGhJe0a"),
        ("OPEN_COWORK_CLOUD_PUBLIC_URL", "https://cloud.example.org"),
        ("OPEN_COWORK_CLOUD_HOST", "0.0.0.0"),
        ("OPEN_COWORK_CLOUD_ROLE", "web"),
    ])
}

/// The rules the configuration from `vars` breaks (`configFile`: the config file's content).
fn refusals(vars: &HashMap<String, String>, dir: &Path) -> Vec<String> {
    let mut vars = vars.clone();
    if let Some(content) = vars.remove("configFile") {
        let path = dir.join("open-cowork.config.json");
        std::fs::write(&path, content).unwrap();
        vars.insert("OPEN_COWORK_CONFIG_PATH".to_owned(), path.display().to_string());
    }
    let config = ServeConfig::load(Path::new("/nonexistent"), &vars, &ServeFlags::default())
        .unwrap_or_else(|e| panic!("the configuration must load to reach the tier's rules: {e}"));
    production::refusals(&config).rules().to_vec()
}

#[test]
fn every_listed_fail_closed_check_is_enforced_naming_its_setting() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(refusals(&baseline(), dir.path()), Vec::<String>::new(), "the baseline keeps every rule");
    let gate = gate();
    assert_eq!(gate["tierVariable"], production::TIER_VARIABLE);
    for check in gate["failClosedChecks"].as_array().unwrap() {
        let setting = check["setting"].as_str().unwrap();
        let mut vars = baseline();
        for (name, value) in check["break"].as_object().unwrap() {
            match value.as_str().unwrap_or_default() {
                "" => vars.remove(name),
                value => vars.insert(name.clone(), value.to_owned()),
            };
        }
        let broken = refusals(&vars, dir.path());
        let refusal = check["refusal"].as_str().unwrap();
        let found = broken.iter().any(|rule| rule.starts_with(&format!("{setting} ")) && rule.contains(refusal));
        assert!(found, "breaking {setting} ({}) gave {broken:#?}", check["rule"]);
    }
}

#[test]
fn every_refusal_the_cloud_gives_is_listed() {
    let listed: HashSet<String> = gate()["failClosedChecks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["setting"].as_str().unwrap().to_owned())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut given = refusals(
        &env(&[
            ("OPEN_COWORK_CLOUD_DEPLOYMENT_TIER", "public_production"),
            ("OPEN_COWORK_CLOUD_AUTH_MODE", "none"),
            ("OPEN_COWORK_CLOUD_ALLOW_INSECURE_AUTH", "true"),
            ("OPEN_COWORK_CLOUD_ROLE", "all"),
            ("configFile", r#"{"cloud": {"openai": {"apiKey": "sk-a-literal-key-0123456789abcdef"}}}"#),
        ]),
        dir.path(),
    );
    given.extend(refusals(
        &env(&[
            ("OPEN_COWORK_CLOUD_DEPLOYMENT_TIER", "public_production"),
            ("OPEN_COWORK_CLOUD_DATABASE_URL", "postgres://cloud@db.internal/cloud"),
            ("OPEN_COWORK_CLOUD_ROLE", "web"),
            ("OPEN_COWORK_CLOUD_PUBLIC_URL", "http://cloud.example.org"),
            ("OPEN_COWORK_CLOUD_HOST", "0.0.0.0"),
            ("OPEN_COWORK_CLOUD_AUTH_MODE", "header"),
            ("OPEN_COWORK_CLOUD_HEADER_AUTH_SECRET", "Hq7wE2rT9yU4iO1pA6sD3fG8hJ5kL0zXcV"),
            ("OPEN_COWORK_CLOUD_HEADER_AUTH_ALLOW_UNSIGNED", "true"),
        ]),
        dir.path(),
    ));
    assert!(given.len() >= 9, "{given:#?}");
    for rule in given {
        let setting = rule.split(' ').next().unwrap_or_default();
        assert!(listed.contains(setting), "{setting} is refused but not listed in security-gates.json: {rule}");
    }
}
