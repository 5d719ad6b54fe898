//! Configuration loading: precedence, validation messages, compatibility rules.

use std::collections::HashMap;
use std::path::Path;

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn write_config(dir: &Path, json: &str) -> Flags {
    let path = dir.join("open-cowork.config.json");
    std::fs::write(&path, json).unwrap();
    Flags { config_path: Some(path), ..Flags::default() }
}

fn error_text(result: Result<GatewayConfig, ConfigError>) -> String {
    result.map(|_| ()).unwrap_err().to_string()
}

#[test]
fn defaults_give_the_fake_provider_on_loopback_with_sqlite_in_the_working_directory() {
    let config = GatewayConfig::load(Path::new("/srv/app"), &HashMap::new(), &Flags::default()).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8790");
    assert_eq!(config.storage, Storage::DataDir("/srv/app/.open-cowork".into()));
    assert_eq!(config.providers.len(), 1);
    assert_eq!(config.providers[0].id.as_str(), "fake");
    assert_eq!(config.providers[0].binding_id.as_str(), "fake-binding");
    assert_eq!(config.max_request_body_bytes, 1024 * 1024);
    assert_eq!(config.shutdown_drain.as_millis(), 10_000);
}

#[test]
fn file_providers_and_env_overrides_apply_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let flags = write_config(
        dir.path(),
        r#"{"ui": {"anything": 1}, "gateway": {"server": {"port": 9000, "maxRequestBodyBytes": 4096},
            "providers": [{"id": "fake-demo", "kind": "fake", "channelBindingId": "b1", "defaultAgent": "plan",
                           "credentials": {"token": "env:DEMO_TOKEN"}, "settings": {"failFirstSends": 2}}]}}"#,
    );
    let vars = env(&[("OPEN_COWORK_GATEWAY_PORT", "9100"), ("DEMO_TOKEN", "s3cret")]);
    let config = GatewayConfig::load(dir.path(), &vars, &flags).unwrap();
    assert_eq!(config.listen.port(), 9100, "env beats file");
    assert_eq!(config.max_request_body_bytes, 4096);
    let provider = &config.providers[0];
    assert_eq!(
        (provider.id.as_str(), provider.binding_id.as_str(), provider.default_agent.as_str()),
        ("fake-demo", "b1", "plan")
    );
    assert_eq!(provider.credentials["token"][0].expose(), "s3cret");
    assert_eq!(format!("{:?}", provider.credentials["token"][0]), "***");
    let ProviderSettings::Fake(settings) = &provider.settings else { panic!("not a fake provider") };
    assert_eq!(settings.fail_first_sends, 2);
}

#[test]
fn unknown_keys_are_rejected_by_path_and_open_cowork_keys_warn() {
    let dir = tempfile::tempdir().unwrap();
    let flags = write_config(dir.path(), r#"{"gateway": {"server": {"hots": "0.0.0.0"}}}"#);
    let message = error_text(GatewayConfig::load(dir.path(), &HashMap::new(), &flags));
    assert!(message.contains("gateway.server.hots"), "{message}");

    let flags =
        write_config(dir.path(), r#"{"gateway": {"providers": [{"kind": "fake", "settings": {"latency": 5}}]}}"#);
    let message = error_text(GatewayConfig::load(dir.path(), &HashMap::new(), &flags));
    assert!(message.contains("gateway.providers[0].settings") && message.contains("latency"), "{message}");

    let flags = write_config(dir.path(), r#"{"gateway": {"mode": "self-host", "branding": "x"}}"#);
    let config = GatewayConfig::load(dir.path(), &HashMap::new(), &flags).unwrap();
    assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
}

#[test]
fn invalid_values_name_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (r#"{"gateway": {"server": {"port": "80"}}}"#, "gateway.server.port"),
        (r#"{"gateway": {"providers": [{"kind": "carrier-pigeon"}]}}"#, "gateway.providers[0].kind"),
        (r#"{"gateway": {"providers": [{"kind": "telegram"}]}}"#, "not supported by this version"),
        (r#"{"gateway": {"providers": [{"kind": "slack", "credentials": {"signingSecret": "s"}}]}}"#, "botToken"),
        (r#"{"gateway": {"providers": [{"kind": "fake", "id": "Fake!"}]}}"#, ".id"),
        (
            r#"{"gateway": {"providers": [{"kind": "fake", "id": "a"}, {"kind": "fake", "id": "a"}]}}"#,
            "used by two providers",
        ),
        (r#"{"gateway": {"providers": [{"kind": "fake", "credentials": {"t": "env:NOPE_NOT_SET"}}]}}"#, "NOPE_NOT_SET"),
        (r#"{"gateway": {"providers": [{"kind": "fake", "enabled": false}]}}"#, "no enabled provider"),
        (r#"{"gateway": []}"#, "`gateway` must be an object"),
        (r#"{"gateway": "#, "not valid JSON"),
    ];
    for (json, expected) in cases {
        let flags = write_config(dir.path(), json);
        let message = error_text(GatewayConfig::load(dir.path(), &HashMap::new(), &flags));
        assert!(message.contains(expected), "{json}: {message}");
    }
    let message = error_text(GatewayConfig::load(
        Path::new("/x"),
        &env(&[("OPEN_COWORK_GATEWAY_PORT", "http")]),
        &Flags::default(),
    ));
    assert!(message.contains("OPEN_COWORK_GATEWAY_PORT"), "{message}");
}

#[test]
fn the_fake_provider_is_refused_on_public_exposure_unless_allowed() {
    let public_bind = env(&[("OPEN_COWORK_GATEWAY_HOST", "0.0.0.0")]);
    let message = error_text(GatewayConfig::load(Path::new("/x"), &public_bind, &Flags::default()));
    assert!(message.contains("ALLOW_PUBLIC_FAKE_PROVIDER"), "{message}");
    let public_url = env(&[("OPEN_COWORK_GATEWAY_PUBLIC_URL", "https://gw.example.com")]);
    assert!(GatewayConfig::load(Path::new("/x"), &public_url, &Flags::default()).is_err());
    let allowed =
        env(&[("OPEN_COWORK_GATEWAY_HOST", "0.0.0.0"), ("OPEN_COWORK_GATEWAY_ALLOW_PUBLIC_FAKE_PROVIDER", "true")]);
    assert!(GatewayConfig::load(Path::new("/x"), &allowed, &Flags::default()).is_ok());
}

#[test]
fn database_url_beats_data_dir_and_flags_beat_env() {
    let vars =
        env(&[("OPEN_COWORK_GATEWAY_DATABASE_URL", "postgres://db/x"), ("OPEN_COWORK_GATEWAY_DATA_DIR", "/data")]);
    let config = GatewayConfig::load(Path::new("/x"), &vars, &Flags::default()).unwrap();
    assert!(matches!(&config.storage, Storage::Url(url) if url.expose() == "postgres://db/x"));
    let flags = Flags {
        database_url: Some("sqlite:///tmp/a.db".into()),
        listen: Some("127.0.0.1:7000".parse().unwrap()),
        ..Flags::default()
    };
    let config = GatewayConfig::load(Path::new("/x"), &vars, &flags).unwrap();
    assert!(matches!(&config.storage, Storage::Url(url) if url.expose() == "sqlite:///tmp/a.db"));
    assert_eq!(config.listen.port(), 7000);
    let data_dir_only = Flags { data_dir: Some("/elsewhere".into()), ..Flags::default() };
    let config = GatewayConfig::load(Path::new("/x"), &HashMap::new(), &data_dir_only).unwrap();
    assert_eq!(config.storage, Storage::DataDir("/elsewhere".into()));
}

#[test]
fn config_dir_and_demo_interval_are_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("open-cowork.config.json"), r#"{"cloud": {"demo": {"deltaIntervalMs": 7}}}"#)
        .unwrap();
    let vars = env(&[("OPEN_COWORK_CONFIG_DIR", dir.path().to_str().unwrap())]);
    let config = GatewayConfig::load(Path::new("/x"), &vars, &Flags::default()).unwrap();
    assert_eq!(config.cloud.demo_delta_interval.as_millis(), 7);
    let vars = env(&[
        ("OPEN_COWORK_CONFIG_DIR", dir.path().to_str().unwrap()),
        ("OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS", "9"),
    ]);
    let config = GatewayConfig::load(Path::new("/x"), &vars, &Flags::default()).unwrap();
    assert_eq!(config.cloud.demo_delta_interval.as_millis(), 9);
}

#[test]
fn admin_token_and_loopback_bypass_are_read_from_env_and_file() {
    let vars = env(&[("OPEN_COWORK_GATEWAY_ADMIN_TOKEN", " tok-from-env-1234 ")]);
    let config = GatewayConfig::load(Path::new("/x"), &vars, &Flags::default()).unwrap();
    assert_eq!(config.operator.admin_token.as_ref().map(Secret::expose), Some("tok-from-env-1234"));
    assert!(!config.operator.allow_loopback_bypass);

    let dir = tempfile::tempdir().unwrap();
    let flags = write_config(
        dir.path(),
        r#"{"gateway": {"server": {"adminToken": "env:ADMIN", "allowLoopbackOperatorBypass": true}}}"#,
    );
    let config = GatewayConfig::load(dir.path(), &env(&[("ADMIN", "tok-from-ref-5678")]), &flags).unwrap();
    assert_eq!(config.operator.admin_token.as_ref().map(Secret::expose), Some("tok-from-ref-5678"));
    assert!(config.operator.allow_loopback_bypass);
    assert!(config.warnings.iter().any(|w| w.contains("no effect")), "{:?}", config.warnings);

    let vars = env(&[("OPEN_COWORK_GATEWAY_ALLOW_LOOPBACK_OPERATOR_BYPASS", "true")]);
    let config = GatewayConfig::load(Path::new("/x"), &vars, &Flags::default()).unwrap();
    assert!(config.operator.allow_loopback_bypass && config.operator.admin_token.is_none());
}

#[test]
fn placeholder_admin_tokens_are_refused() {
    for token in ["change-me", "CHANGE-ME-now", "replace-with-a-token", "example-token", "demo-admin"] {
        let vars = env(&[("OPEN_COWORK_GATEWAY_ADMIN_TOKEN", token)]);
        let message = error_text(GatewayConfig::load(Path::new("/x"), &vars, &Flags::default()));
        assert!(message.contains("OPEN_COWORK_GATEWAY_ADMIN_TOKEN") && message.contains("placeholder"), "{message}");
    }
}

#[test]
fn loopback_bypass_is_refused_on_an_exposed_gateway() {
    let bypass = ("OPEN_COWORK_GATEWAY_ALLOW_LOOPBACK_OPERATOR_BYPASS", "true");
    let cases = [
        env(&[
            bypass,
            ("OPEN_COWORK_GATEWAY_HOST", "0.0.0.0"),
            ("OPEN_COWORK_GATEWAY_ALLOW_PUBLIC_FAKE_PROVIDER", "true"),
        ]),
        env(&[
            bypass,
            ("OPEN_COWORK_GATEWAY_PUBLIC_URL", "https://gw.example.com"),
            ("OPEN_COWORK_GATEWAY_ALLOW_PUBLIC_FAKE_PROVIDER", "true"),
        ]),
    ];
    for vars in cases {
        let message = error_text(GatewayConfig::load(Path::new("/x"), &vars, &Flags::default()));
        assert!(message.contains("OPEN_COWORK_GATEWAY_ALLOW_LOOPBACK_OPERATOR_BYPASS"), "{message}");
    }
}

#[test]
fn the_runtime_is_demo_unless_a_model_is_configured() {
    let none = GatewayConfig::load(Path::new("/x"), &HashMap::new(), &Flags::default()).unwrap();
    assert_eq!(none.cloud.runtime, RuntimeKind::Demo);
    let key_only =
        GatewayConfig::load(Path::new("/x"), &env(&[("OPENAI_API_KEY", "sk-x")]), &Flags::default()).unwrap();
    assert_eq!(key_only.cloud.runtime, RuntimeKind::Demo, "a stray OPENAI_API_KEY does not switch runtimes");
    let vars = env(&[("OPEN_COWORK_CLOUD_OPENAI_BASE_URL", "http://127.0.0.1:11434/v1"), ("OPENAI_API_KEY", "sk-x")]);
    let config = GatewayConfig::load(Path::new("/x"), &vars, &Flags::default()).unwrap();
    assert_eq!(config.cloud.runtime, RuntimeKind::OpenAi);
    let openai = &config.cloud.openai;
    assert_eq!(openai.base_url, "http://127.0.0.1:11434/v1");
    assert_eq!(openai.api_key.as_ref().map(Secret::expose), Some("sk-x"), "OPENAI_API_KEY is the fallback key");
    let forced = env(&[("OPEN_COWORK_CLOUD_OPENAI_MODEL", "llama3"), ("OPEN_COWORK_CLOUD_RUNTIME", "demo")]);
    assert_eq!(
        GatewayConfig::load(Path::new("/x"), &forced, &Flags::default()).unwrap().cloud.runtime,
        RuntimeKind::Demo
    );
}

#[test]
fn the_runtime_is_read_from_the_file_and_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let flags = write_config(
        dir.path(),
        r#"{"cloud": {"openai": {"model": "qwen2.5", "apiKey": "env:MY_KEY", "systemPrompt": "Be brief.", "tools": true}}}"#,
    );
    let config = GatewayConfig::load(dir.path(), &env(&[("MY_KEY", "k")]), &flags).unwrap();
    assert_eq!(config.cloud.runtime, RuntimeKind::OpenAi);
    let openai = &config.cloud.openai;
    assert_eq!(
        (openai.model.as_str(), openai.system_prompt.as_deref(), openai.tools_enabled),
        ("qwen2.5", Some("Be brief."), true)
    );
    for (json, expected) in [
        (r#"{"cloud": {"runtime": "gpt"}}"#, "cloud.runtime"),
        (r#"{"cloud": {"openai": {"modle": "x"}}}"#, "cloud.openai.modle"),
    ] {
        let flags = write_config(dir.path(), json);
        let message = error_text(GatewayConfig::load(dir.path(), &HashMap::new(), &flags));
        assert!(message.contains(expected), "{json}: {message}");
    }
}

#[test]
fn the_opencode_runtime_is_chosen_by_name_settings_file_or_binary() {
    let by_name =
        GatewayConfig::load(Path::new("/x"), &env(&[("OPEN_COWORK_CLOUD_RUNTIME", "opencode")]), &Flags::default());
    let by_name = by_name.unwrap().cloud;
    assert_eq!((by_name.runtime, &by_name.opencode), (RuntimeKind::OpenCode, &OpenCodeConfig::default()));
    let vars = env(&[
        ("OPEN_COWORK_CLOUD_OPENCODE_BIN", "/opt/opencode"),
        ("OPEN_COWORK_CLOUD_OPENCODE_MODEL", "ollama/llama3.2"),
    ]);
    let cloud = GatewayConfig::load(Path::new("/x"), &vars, &Flags::default()).unwrap().cloud;
    assert_eq!(cloud.runtime, RuntimeKind::OpenCode);
    let opencode = cloud.opencode;
    assert_eq!(
        (opencode.binary.as_deref(), opencode.model.as_deref()),
        (Some(Path::new("/opt/opencode")), Some("ollama/llama3.2"))
    );
    let dir = tempfile::tempdir().unwrap();
    let flags = write_config(
        dir.path(),
        r#"{"cloud": {"opencode": {"url": "http://127.0.0.1:4500", "askPermissions": ["bash"], "stateDir": "/var/oc"}}}"#,
    );
    let cloud = GatewayConfig::load(dir.path(), &HashMap::new(), &flags).unwrap().cloud;
    assert_eq!(cloud.runtime, RuntimeKind::OpenCode);
    let opencode = cloud.opencode;
    assert_eq!(opencode.url.as_deref(), Some("http://127.0.0.1:4500"));
    assert_eq!(opencode.ask_permissions, Some(vec!["bash".to_owned()]));
    for (json, expected) in [
        (r#"{"cloud": {"opencode": {"model": "llama3"}}}"#, "cloud.opencode.model"),
        (r#"{"cloud": {"opencode": {"url": "http://169.254.169.254/"}}}"#, "cloud.opencode.url"),
        (r#"{"cloud": {"opencode": {"askPermissions": "bash"}}}"#, "cloud.opencode.askPermissions"),
        (r#"{"cloud": {"opencode": {"port": 1}}}"#, "cloud.opencode.port"),
    ] {
        let flags = write_config(dir.path(), json);
        let message = error_text(GatewayConfig::load(dir.path(), &HashMap::new(), &flags));
        assert!(message.contains(expected), "{json}: {message}");
    }
}

#[test]
fn openai_and_opencode_are_kept_side_by_side_and_the_runtime_name_picks_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let both = r#"{"cloud": {"openai": {"baseUrl": "http://127.0.0.1:11434/v1", "model": "llama3.2"},
        "opencode": {"url": "http://127.0.0.1:4500"}}}"#;
    let flags = write_config(dir.path(), both);
    let cloud = GatewayConfig::load(dir.path(), &HashMap::new(), &flags).unwrap().cloud;
    assert_eq!(cloud.runtime, RuntimeKind::OpenCode, "the section read last is the default, as before");
    assert_eq!(
        (cloud.openai.model.as_str(), cloud.opencode.url.as_deref()),
        ("llama3.2", Some("http://127.0.0.1:4500"))
    );
    let cloud =
        GatewayConfig::load(dir.path(), &env(&[("OPEN_COWORK_CLOUD_RUNTIME", "openai")]), &flags).unwrap().cloud;
    assert_eq!(cloud.runtime, RuntimeKind::OpenAi);
    assert_eq!(
        cloud.opencode.url.as_deref(),
        Some("http://127.0.0.1:4500"),
        "naming a runtime keeps the other's settings"
    );
}

#[test]
fn agents_choose_their_runtime_and_the_rest_use_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let flags = write_config(
        dir.path(),
        r#"{"cloud": {"runtime": "demo", "openai": {"baseUrl": "http://127.0.0.1:11434/v1", "model": "llama3.2"},
            "opencode": {"binary": "/opt/opencode"},
            "agents": {"writer": {"runtime": "openai", "systemPrompt": "Write tersely.", "model": "qwen2.5"},
                       "coder": {"runtime": "opencode", "model": "ollama/qwen2.5-coder"},
                       "greeter": {"runtime": "demo"}}}}"#,
    );
    let cloud = GatewayConfig::load(dir.path(), &HashMap::new(), &flags).unwrap().cloud;
    assert_eq!(cloud.runtime, RuntimeKind::Demo);
    assert_eq!(
        cloud.runtime_of("writer"),
        AgentRuntimeConfig::OpenAi { system_prompt: Some("Write tersely.".into()), model: Some("qwen2.5".into()) }
    );
    assert_eq!(cloud.runtime_of("coder"), AgentRuntimeConfig::OpenCode { model: Some("ollama/qwen2.5-coder".into()) });
    assert_eq!(cloud.runtime_of("greeter"), AgentRuntimeConfig::Demo);
    assert_eq!(cloud.runtime_of("build"), AgentRuntimeConfig::Demo, "an unlisted agent runs on the default");
    assert!(cloud.uses(RuntimeKind::OpenCode) && cloud.uses(RuntimeKind::OpenAi));
}

#[test]
fn the_fallback_openai_key_serves_an_agent_on_openai() {
    let dir = tempfile::tempdir().unwrap();
    let flags = write_config(dir.path(), r#"{"cloud": {"agents": {"writer": {"runtime": "openai"}}}}"#);
    let config = GatewayConfig::load(dir.path(), &env(&[("OPENAI_API_KEY", "sk-x")]), &flags).unwrap();
    assert_eq!(config.cloud.runtime, RuntimeKind::Demo);
    assert_eq!(config.cloud.openai.api_key.as_ref().map(Secret::expose), Some("sk-x"));
}

#[test]
fn bad_agent_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (r#"{"writer": {"runtime": "gpt"}}"#, "cloud.agents.writer.runtime"),
        (r#"{"writer": {"model": "x"}}"#, "cloud.agents.writer.runtime"),
        (r#"{"writer": {"runtime": "openai", "temperature": 1}}"#, "cloud.agents.writer.temperature"),
        (r#"{"writer": {"runtime": "demo", "systemPrompt": "Hi."}}"#, "cloud.agents.writer.systemPrompt"),
        (r#"{"writer": {"runtime": "demo", "model": "m"}}"#, "cloud.agents.writer.model"),
        (r#"{"coder": {"runtime": "opencode", "systemPrompt": "Hi."}}"#, "cloud.agents.coder.systemPrompt"),
        (r#"{"coder": {"runtime": "opencode", "model": "llama3"}}"#, "cloud.agents.coder.model"),
        (r#"{"writer": {"runtime": "openai", "model": ""}}"#, "cloud.agents.writer.model"),
        (r#"{"writer": "openai"}"#, "cloud.agents.writer"),
        (r#"{"": {"runtime": "demo"}}"#, "cloud.agents."),
        (r#"["writer"]"#, "cloud.agents"),
    ];
    for (agents, expected) in cases {
        let flags = write_config(dir.path(), &format!(r#"{{"cloud": {{"agents": {agents}}}}}"#));
        let message = error_text(GatewayConfig::load(dir.path(), &HashMap::new(), &flags));
        assert!(message.contains(&format!("`{expected}`")), "{agents}: {message}");
    }
}

#[test]
fn an_agent_on_a_runtime_without_its_settings_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (agents, expected) in [
        (r#"{"coder": {"runtime": "opencode"}}"#, "OPEN_COWORK_CLOUD_OPENCODE_URL"),
        (r#"{"writer": {"runtime": "openai"}}"#, "OPENAI_API_KEY"),
    ] {
        let flags = write_config(dir.path(), &format!(r#"{{"cloud": {{"agents": {agents}}}}}"#));
        let message = error_text(GatewayConfig::load(dir.path(), &HashMap::new(), &flags));
        let agent = if agents.contains("coder") { "coder" } else { "writer" };
        assert!(
            message.contains(&format!("`cloud.agents.{agent}.runtime`")) && message.contains(expected),
            "{message}"
        );
    }
    let flags = write_config(dir.path(), r#"{"cloud": {"agents": {"coder": {"runtime": "opencode"}}}}"#);
    let vars = env(&[("OPEN_COWORK_CLOUD_OPENCODE_URL", "http://127.0.0.1:4096")]);
    let config = GatewayConfig::load(dir.path(), &vars, &flags).unwrap();
    assert_eq!(config.cloud.runtime, RuntimeKind::OpenCode, "configuring a server still picks the default");
    let flags = write_config(dir.path(), r#"{"cloud": {"agents": {"writer": {"runtime": "openai"}}}}"#);
    let vars = env(&[("OPEN_COWORK_CLOUD_OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")]);
    assert!(GatewayConfig::load(dir.path(), &vars, &flags).is_ok(), "a local endpoint needs no key");
}

#[test]
fn declared_tools_are_read_and_a_bad_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let tool = r#"{"name": "weather", "description": "The weather.", "url": "https://tools.example/w",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "timeoutMs": 5000}"#;
    let flags = write_config(dir.path(), &format!(r#"{{"cloud": {{"openai": {{"declaredTools": [{tool}]}}}}}}"#));
    let config = GatewayConfig::load(dir.path(), &HashMap::new(), &flags).unwrap();
    assert_eq!(config.cloud.runtime, RuntimeKind::OpenAi);
    let declared = &config.cloud.openai.declared_tools[0];
    assert_eq!((declared.name.as_str(), declared.timeout), ("weather", std::time::Duration::from_secs(5)));
    assert_eq!(declared.parameters["properties"]["city"]["type"], "string");
    assert!(!declared.allow_private);
    for (tools, expected) in [
        (format!(r#"[{tool}, {tool}]"#), "cloud.openai.declaredTools[1].name"),
        (r#"[{"name": "x", "description": "d", "url": "http://x.example/", "parameters": {"type": "object"}}]"#.to_owned(), "declaredTools[0].url"),
        (r#"[{"name": "x", "description": "d", "url": "https://x.example/", "parameters": {"type": "array"}}]"#.to_owned(), "declaredTools[0].parameters"),
        (r#"[{"name": "x", "url": "https://x.example/", "parameters": {"type": "object"}}]"#.to_owned(), "declaredTools[0].description"),
        (r#"[{"name": "x", "description": "d", "url": "https://x.example/", "parameters": {"type": "object"}, "method": "GET"}]"#.to_owned(), "declaredTools[0].method"),
        (r#"{"name": "x"}"#.to_owned(), "cloud.openai.declaredTools"),
    ] {
        let flags = write_config(dir.path(), &format!(r#"{{"cloud": {{"openai": {{"declaredTools": {tools}}}}}}}"#));
        let message = error_text(GatewayConfig::load(dir.path(), &HashMap::new(), &flags));
        assert!(message.contains(expected), "{tools}: {message}");
    }
}

#[test]
fn interaction_lifetime_is_configurable_within_bounds() {
    let vars = env(&[("OPEN_COWORK_GATEWAY_INTERACTION_TTL_MS", "600000")]);
    let config = GatewayConfig::load(Path::new("/x"), &vars, &Flags::default()).unwrap();
    assert_eq!(config.workers.interaction_ttl.as_secs(), 600);
    let too_short = env(&[("OPEN_COWORK_GATEWAY_INTERACTION_TTL_MS", "5")]);
    let message = error_text(GatewayConfig::load(Path::new("/x"), &too_short, &Flags::default()));
    assert!(message.contains("OPEN_COWORK_GATEWAY_INTERACTION_TTL_MS"), "{message}");
}

#[test]
fn smtp_timeout_comes_from_env_or_file_within_bounds() {
    let defaults = GatewayConfig::load(Path::new("/x"), &HashMap::new(), &Flags::default()).unwrap();
    assert_eq!(defaults.smtp_timeout.as_millis(), 30_000);
    let vars = env(&[("OPEN_COWORK_GATEWAY_SMTP_TIMEOUT_MS", "2500")]);
    let config = GatewayConfig::load(Path::new("/x"), &vars, &Flags::default()).unwrap();
    assert_eq!(config.smtp_timeout.as_millis(), 2_500);
    let dir = tempfile::tempdir().unwrap();
    let flags = write_config(dir.path(), r#"{"gateway": {"timeouts": {"smtpMs": 700}}}"#);
    let config = GatewayConfig::load(dir.path(), &HashMap::new(), &flags).unwrap();
    assert_eq!(config.smtp_timeout.as_millis(), 700);
    for bad in ["50", "120001", "soon"] {
        let vars = env(&[("OPEN_COWORK_GATEWAY_SMTP_TIMEOUT_MS", bad)]);
        let message = error_text(GatewayConfig::load(Path::new("/x"), &vars, &Flags::default()));
        assert!(message.contains("OPEN_COWORK_GATEWAY_SMTP_TIMEOUT_MS"), "{bad}: {message}");
    }
}

#[test]
fn server_limits_come_from_env_within_bounds() {
    let defaults = GatewayConfig::load(Path::new("/x"), &HashMap::new(), &Flags::default()).unwrap();
    assert_eq!(defaults.server, ServerLimits::default());
    let vars = env(&[
        ("OPEN_COWORK_GATEWAY_HEADER_READ_TIMEOUT_MS", "500"),
        ("OPEN_COWORK_GATEWAY_REQUEST_TIMEOUT_MS", "2000"),
        ("OPEN_COWORK_GATEWAY_MAX_CONNECTIONS", "64"),
    ]);
    let config = GatewayConfig::load(Path::new("/x"), &vars, &Flags::default()).unwrap();
    assert_eq!(config.server.header_read_timeout.as_millis(), 500);
    assert_eq!(config.server.request_timeout.as_millis(), 2_000);
    assert_eq!(config.server.max_connections, 64);
    for (name, bad) in [
        ("OPEN_COWORK_GATEWAY_HEADER_READ_TIMEOUT_MS", "99"),
        ("OPEN_COWORK_GATEWAY_REQUEST_TIMEOUT_MS", "600001"),
        ("OPEN_COWORK_GATEWAY_MAX_CONNECTIONS", "0"),
        ("OPEN_COWORK_GATEWAY_MAX_CONNECTIONS", "many"),
    ] {
        let message = error_text(GatewayConfig::load(Path::new("/x"), &env(&[(name, bad)]), &Flags::default()));
        assert!(message.contains(name), "{bad}: {message}");
    }
}

#[test]
fn the_command_stall_threshold_comes_from_env_or_file_within_bounds() {
    let defaults = GatewayConfig::load(Path::new("/x"), &HashMap::new(), &Flags::default()).unwrap();
    assert_eq!(defaults.cloud.command_stall.as_secs(), 60);
    let vars = env(&[("OPEN_COWORK_CLOUD_COMMAND_STALL_MS", "5000")]);
    let config = GatewayConfig::load(Path::new("/x"), &vars, &Flags::default()).unwrap();
    assert_eq!(config.cloud.command_stall.as_millis(), 5_000);
    let dir = tempfile::tempdir().unwrap();
    let flags = write_config(dir.path(), r#"{"cloud": {"commandStallMs": 120000}}"#);
    let config = GatewayConfig::load(dir.path(), &HashMap::new(), &flags).unwrap();
    assert_eq!(config.cloud.command_stall.as_secs(), 120);
    for bad in ["999", "86400001", "soon"] {
        let vars = env(&[("OPEN_COWORK_CLOUD_COMMAND_STALL_MS", bad)]);
        let message = error_text(GatewayConfig::load(Path::new("/x"), &vars, &Flags::default()));
        assert!(message.contains("OPEN_COWORK_CLOUD_COMMAND_STALL_MS"), "{bad}: {message}");
    }
}

#[test]
fn email_providers_are_read_and_their_mistakes_named() {
    let entry = |credentials: &str, settings: &str| {
        let providers =
            format!(r#"[{{"id": "email", "kind": "email", "credentials": {credentials}, "settings": {settings}}}]"#);
        env(&[("OPEN_COWORK_GATEWAY_PROVIDERS", providers.as_str()), ("RELAY_SECRET", "s3cret")])
    };
    let good = entry(
        r#"{"inboundSecret": "env:RELAY_SECRET"}"#,
        r#"{"from": "Agent <agent@example.com>", "smtpHost": "smtp.example.com"}"#,
    );
    let config = GatewayConfig::load(Path::new("/x"), &good, &Flags::default()).unwrap();
    let ProviderSettings::Email(email) = &config.providers[0].settings else { panic!("not email") };
    assert_eq!((email.smtp_host.as_str(), email.smtp_port), ("smtp.example.com", 587));
    assert_eq!(config.providers[0].credentials["inboundSecret"][0].expose(), "s3cret");
    for (credentials, settings, expected) in [
        ("{}", r#"{"from": "a@example.com", "smtpHost": "smtp.example.com"}"#, "credentials.inboundSecret"),
        (r#"{"inboundSecret": "x"}"#, r#"{"smtpHost": "smtp.example.com"}"#, "from"),
        (
            r#"{"inboundSecret": "x", "smtpPassword": "p"}"#,
            r#"{"from": "a@example.com", "smtpHost": "smtp.example.com"}"#,
            "smtpUsername",
        ),
        (
            r#"{"inboundSecret": "x"}"#,
            r#"{"from": "a@example.com", "smtpHost": "smtp.example.com", "smtpSecurity": "none"}"#,
            "smtpSecurity",
        ),
        (r#"{"inboundSecret": "x"}"#, r#"{"from": "a@example.com", "smtpHost": "h", "smtpPrt": 25}"#, "smtpPrt"),
        (
            r#"{"inboundSecret": "x"}"#,
            r#"{"from": "a@example.com", "smtpHost": "h", "maxAttachmentBytes": 2000000}"#,
            "maxAttachmentBytes",
        ),
    ] {
        let message =
            error_text(GatewayConfig::load(Path::new("/x"), &entry(credentials, settings), &Flags::default()));
        assert!(message.contains(expected), "{settings}: {message}");
        assert!(!message.contains("s3cret"), "{message}");
    }
}

#[test]
fn replica_settings_are_read_and_a_lease_shorter_than_three_heartbeats_is_refused() {
    let load = |pairs: &[(&str, &str)]| GatewayConfig::load(Path::new("/srv/app"), &env(pairs), &Flags::default());
    let config = load(&[("OPEN_COWORK_GATEWAY_INSTANCE_ID", "Pod 7")]).unwrap();
    assert_eq!(config.ownership.instance_id, "pod-7");
    assert_eq!((config.ownership.heartbeat.as_millis(), config.ownership.lease.as_millis()), (5_000, 15_000));
    let config = load(&[
        ("OPEN_COWORK_GATEWAY_HEARTBEAT_INTERVAL_MS", "1000"),
        ("OPEN_COWORK_GATEWAY_OWNERSHIP_LEASE_MS", "3000"),
    ])
    .unwrap();
    assert_eq!((config.ownership.heartbeat.as_millis(), config.ownership.lease.as_millis()), (1_000, 3_000));
    let refused = error_text(load(&[("OPEN_COWORK_GATEWAY_OWNERSHIP_LEASE_MS", "14999")]));
    assert!(refused.contains("OPEN_COWORK_GATEWAY_OWNERSHIP_LEASE_MS") && refused.contains("three times"), "{refused}");
    let refused = error_text(load(&[("OPEN_COWORK_GATEWAY_HEARTBEAT_INTERVAL_MS", "50")]));
    assert!(refused.contains("OPEN_COWORK_GATEWAY_HEARTBEAT_INTERVAL_MS"), "{refused}");
}

/// A public_production gateway that keeps every rule: Postgres over TLS, secrets by reference.
fn production(dir: &Path, extra: &[(&str, &str)]) -> (HashMap<String, String>, Flags) {
    let token_file = dir.join("admin-token");
    std::fs::write(&token_file, "k8Jq2vN5xW9zR4tY7uB3mC6pL1sD0fGhQe\n").unwrap();
    let flags = write_config(
        dir,
        r#"{"gateway": {"providers": [{"id": "webhook", "kind": "webhook",
            "credentials": {"sharedSecret": "env:HOOK_SECRET"},
            "settings": {"deliveryUrl": "https://hooks.example.org/in"}}]}}"#,
    );
    let token_ref = format!("file:{}", token_file.display());
    let mut vars = env(&[
        ("OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER", "public_production"),
        ("OPEN_COWORK_GATEWAY_DATABASE_URL", "postgres://gw:pw@db.internal/gw?sslmode=verify-full"),
        ("OPEN_COWORK_GATEWAY_ADMIN_TOKEN_REF", &token_ref),
        ("OPEN_COWORK_GATEWAY_PUBLIC_URL", "https://gw.example.org"),
        ("OPEN_COWORK_GATEWAY_HOST", "0.0.0.0"),
        ("HOOK_SECRET", "a-webhook-secret-from-the-environment-0123"),
    ]);
    vars.extend(env(extra));
    (vars, flags)
}

fn tier_refusal(cwd: &Path, vars: &HashMap<String, String>, flags: &Flags) -> String {
    let config = GatewayConfig::load(cwd, vars, flags).unwrap();
    production::check(&config).unwrap_err().to_string()
}

#[test]
fn public_production_starts_when_every_rule_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (vars, flags) = production(dir.path(), &[]);
    let config = GatewayConfig::load(dir.path(), &vars, &flags).unwrap();
    assert_eq!(config.tier, DeploymentTier::PublicProduction);
    assert_eq!(config.operator.admin_token.as_ref().map(Secret::expose), Some("k8Jq2vN5xW9zR4tY7uB3mC6pL1sD0fGhQe"));
    production::check(&config).unwrap();
    // Below public_production the same rules are not enforced.
    let (vars, flags) = production(dir.path(), &[("OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER", "private_beta")]);
    let mut config = GatewayConfig::load(dir.path(), &vars, &flags).unwrap();
    config.storage = Storage::DataDir("/data".into());
    production::check(&config).unwrap();
    let bad = env(&[("OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER", "prod")]);
    let error = error_text(GatewayConfig::load(Path::new("/srv/app"), &bad, &Flags::default()));
    assert!(error.contains("`OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER` must be one of local"), "{error}");
}

#[test]
fn public_production_names_every_rule_it_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let flags = write_config(
        dir.path(),
        r#"{"gateway": {"server": {"adminToken": "short-literal-token"}, "providers": [
            {"id": "fake", "kind": "fake"},
            {"id": "webhook", "kind": "webhook", "credentials": {"sharedSecret": "a-literal-webhook-secret-0123"},
             "settings": {"deliveryUrl": "https://hooks.example.org/in"}}]}}"#,
    );
    let vars = env(&[
        ("OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER", "public_production"),
        ("OPEN_COWORK_GATEWAY_PUBLIC_URL", "http://gw.example.org"),
        ("OPEN_COWORK_GATEWAY_ALLOW_PUBLIC_FAKE_PROVIDER", "true"),
    ]);
    let refusal = tier_refusal(dir.path(), &vars, &flags);
    for rule in [
        "OPEN_COWORK_GATEWAY_DATABASE_URL needs a Postgres database",
        "OPEN_COWORK_GATEWAY_ADMIN_TOKEN needs a strong value",
        "gateway.server.adminToken takes its secret as a reference",
        "gateway.providers[1].credentials.sharedSecret takes its secret as a reference",
        "OPEN_COWORK_GATEWAY_PUBLIC_URL needs an https URL",
        "gateway.providers[id=fake] is the fake provider",
    ] {
        assert!(refusal.contains(rule), "{rule} missing from {refusal}");
    }
    assert!(!refusal.contains("a-literal-webhook-secret") && !refusal.contains("short-literal-token"), "{refusal}");

    // Postgres off this machine without TLS, the loopback bypass, a plain-http cloud.
    let (vars, flags) = production(
        dir.path(),
        &[
            ("OPEN_COWORK_GATEWAY_DATABASE_URL", "postgres://gw:pw@db.internal/gw"),
            ("OPEN_COWORK_GATEWAY_ALLOW_LOOPBACK_OPERATOR_BYPASS", "true"),
            ("OPEN_COWORK_GATEWAY_HOST", "127.0.0.1"),
            ("OPEN_COWORK_GATEWAY_PUBLIC_URL", ""),
        ],
    );
    let refusal = tier_refusal(dir.path(), &vars, &flags);
    assert!(refusal.contains("OPEN_COWORK_GATEWAY_DATABASE_URL needs TLS"), "{refusal}");
    assert!(refusal.contains("OPEN_COWORK_GATEWAY_ALLOW_LOOPBACK_OPERATOR_BYPASS must be off"), "{refusal}");
    assert!(refusal.contains("OPEN_COWORK_GATEWAY_PUBLIC_URL needs an https public URL"), "{refusal}");
    assert!(!refusal.contains(":pw@"), "{refusal}");
    let (vars, flags) = production(dir.path(), &[]);
    let mut config = GatewayConfig::load(dir.path(), &vars, &flags).unwrap();
    let remote_env = env(&[
        ("OPEN_COWORK_CLOUD_BASE_URL", "http://cloud.internal:8787"),
        ("OPEN_COWORK_GATEWAY_SERVICE_TOKEN", "occ_tok_x_y"),
        ("OPEN_COWORK_GATEWAY_ALLOW_INSECURE_HTTP", "true"),
    ]);
    config.remote_cloud = Some(remote::RemoteCloud::from_env(&remote_env).unwrap());
    let refusal = production::check(&config).unwrap_err().to_string();
    assert!(refusal.contains("OPEN_COWORK_CLOUD_BASE_URL needs an https URL"), "{refusal}");
}

#[test]
fn retention_is_read_in_days_and_never_shorter_than_the_redelivery_window() {
    let config = GatewayConfig::load(
        Path::new("/srv/app"),
        &env(&[("OPEN_COWORK_GATEWAY_RETENTION_DAYS", "30")]),
        &Flags::default(),
    )
    .unwrap();
    assert_eq!(config.workers.retention.as_secs(), 30 * 24 * 3600);
    let short = env(&[("OPEN_COWORK_GATEWAY_RETENTION_DAYS", "2")]);
    let error = error_text(GatewayConfig::load(Path::new("/srv/app"), &short, &Flags::default()));
    assert!(error.contains("OPEN_COWORK_GATEWAY_RETENTION_DAYS` must be between 3 and 365"), "{error}");
}
