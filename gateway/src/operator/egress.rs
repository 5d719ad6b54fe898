//! `GET /egress/explain?url=…&providerId=…`: whether the egress policy lets the gateway reach a
//! URL, and why, under a provider's rules (its allowlist and private-delivery setting) or, without
//! `providerId`, the default rules (public https hosts only).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use cowork_providers::ProviderId;
use cowork_providers::egress::{Egress, EgressRules, SystemResolver};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{OperatorError, OperatorState};
use crate::config::ProviderSettings;

/// How long a DNS lookup for an explanation may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExplainQuery {
    url: Option<String>,
    provider_id: Option<String>,
}

/// Explains the egress decision for a URL.
pub(super) async fn explain(
    State(state): State<OperatorState>,
    Query(query): Query<ExplainQuery>,
) -> Result<Json<Value>, OperatorError> {
    let url = query.url.filter(|u| !u.is_empty()).ok_or_else(|| OperatorError::BadRequest("url is required".into()))?;
    let rules = match &query.provider_id {
        None => EgressRules::default(),
        Some(id) => {
            let provider = state
                .services
                .providers
                .get(&ProviderId::new(id.clone()))
                .ok_or_else(|| OperatorError::NotFound(format!("no provider `{id}`")))?;
            match &provider.config.settings {
                ProviderSettings::Webhook(settings) => settings.egress_rules(),
                _ => EgressRules::default(),
            }
        }
    };
    let egress = Egress::new(Arc::new(SystemResolver), LOOKUP_TIMEOUT);
    let explanation = egress.explain(&url, &rules).await;
    let mut body = serde_json::to_value(&explanation).map_err(|e| OperatorError::BadRequest(e.to_string()))?;
    body["ok"] = json!(true);
    body["url"] = json!(state.services.redactor.redact(&url));
    Ok(Json(body))
}
