//! The exposition: declared names, zeroed series for configured providers, one-hot states,
//! backlog gauges rebuilt per scrape.

use super::*;
use crate::config::ProviderConfig;

fn metrics() -> Metrics {
    Metrics::new(&[ProviderConfig::default_fake()])
}

#[test]
fn configured_providers_have_zeroed_series_before_any_event() {
    let text = metrics().encode();
    for line in [
        r#"open_cowork_gateway_provider_delivery_retries_total{provider="fake"} 0"#,
        r#"open_cowork_gateway_provider_delivery_dead_letters_total{provider="fake"} 0"#,
        r#"open_cowork_gateway_inbound_accepted_total{provider="fake"} 0"#,
        r#"open_cowork_gateway_provider_state{provider="fake",kind="fake",state="configured"} 1"#,
        r#"open_cowork_gateway_provider_state{provider="fake",kind="fake",state="healthy"} 0"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(text.contains("# TYPE open_cowork_gateway_ack_seconds histogram"), "{text}");
}

#[test]
fn typed_events_land_in_their_series() {
    let m = metrics();
    let fake = ProviderId::new("fake");
    m.inbound_accepted(&fake);
    m.inbound_rejected(None, "unknown_provider");
    m.inbound_rejected(Some(&fake), "invalid_payload");
    m.ack_latency(Some(&fake), Duration::from_micros(700));
    m.delivery_retried(&fake);
    m.delivery_retried(&fake);
    m.delivery_dead_lettered(&fake);
    m.set_provider_state(&fake, ProviderKind::Fake, ProviderState::Healthy);
    let text = m.encode();
    for line in [
        r#"open_cowork_gateway_inbound_accepted_total{provider="fake"} 1"#,
        r#"open_cowork_gateway_inbound_rejected_total{provider="_unknown",reason="unknown_provider"} 1"#,
        r#"open_cowork_gateway_inbound_rejected_total{provider="fake",reason="invalid_payload"} 1"#,
        r#"open_cowork_gateway_ack_seconds_bucket{provider="fake",le="0.0005"} 0"#,
        r#"open_cowork_gateway_ack_seconds_bucket{provider="fake",le="0.001"} 1"#,
        r#"open_cowork_gateway_provider_delivery_retries_total{provider="fake"} 2"#,
        r#"open_cowork_gateway_provider_delivery_dead_letters_total{provider="fake"} 1"#,
        r#"open_cowork_gateway_provider_state{provider="fake",kind="fake",state="healthy"} 1"#,
        r#"open_cowork_gateway_provider_state{provider="fake",kind="fake",state="configured"} 0"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert_eq!(m.provider_states(), vec![("fake".to_owned(), ProviderKind::Fake, ProviderState::Healthy)]);
}

#[test]
fn backlog_gauges_follow_the_latest_scrape() {
    let m = metrics();
    let b1 = BindingBacklog {
        binding_id: "b1".into(),
        pending: 2,
        claimed: 1,
        retrying: 3,
        dead: 4,
        oldest_open_created_at: Some(1_000),
    };
    m.set_backlog(&[b1], 6_000);
    let text = m.encode();
    for line in [
        r#"open_cowork_gateway_delivery_backlog{binding="b1",state="pending"} 2"#,
        r#"open_cowork_gateway_delivery_backlog{binding="b1",state="retrying"} 3"#,
        r#"open_cowork_gateway_delivery_backlog{binding="b1",state="dead"} 4"#,
        r#"open_cowork_gateway_delivery_oldest_open_age_seconds{binding="b1"} 5"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    m.set_backlog(&[], 7_000);
    let text = m.encode();
    assert!(!text.contains(r#"binding="b1""#), "a drained binding disappears");
    assert!(
        text.contains(r#"open_cowork_gateway_delivery_backlog{binding="fake-binding",state="dead"} 0"#),
        "configured bindings stay at zero: {text}"
    );
}
