//! Prompt admission: the per-session queue depth cap, the plan, and the hourly prompt quotas
//! counted in the database (so every process of one cloud shares them).

use cowork_cloud_client::SessionId;

use super::Channels;
use crate::api::ApiError;

/// Per-organization and per-session quotas on prompts; 0 turns one off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Prompts per hour (`OPEN_COWORK_CLOUD_PROMPTS_PER_HOUR`, default 600).
    pub prompts_per_hour: u64,
    /// Prompts from gateways per hour (`OPEN_COWORK_CLOUD_GATEWAY_PROMPTS_PER_HOUR`, default 300).
    pub gateway_prompts_per_hour: u64,
    /// Commands a session may have waiting or running
    /// (`OPEN_COWORK_CLOUD_MAX_QUEUED_COMMANDS_PER_SESSION`, default 100).
    pub max_queued_per_session: u64,
    /// Deliveries claimed per hour (`OPEN_COWORK_CLOUD_GATEWAY_DELIVERIES_PER_HOUR`, default 1000).
    pub gateway_deliveries_per_hour: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            prompts_per_hour: 600,
            gateway_prompts_per_hour: 300,
            max_queued_per_session: 100,
            gateway_deliveries_per_hour: 1000,
        }
    }
}

const HOUR_MS: i64 = 60 * 60 * 1000;

impl Channels {
    /// Refuses a prompt over a quota (429 with the wait), consuming the hourly ones.
    pub(super) async fn admit_prompt(&self, session: &SessionId) -> Result<(), ApiError> {
        self.billing.check(crate::billing::GatedAction::PromptEnqueue)?;
        let store = self.service.store();
        let depth = self.quotas.max_queued_per_session;
        if depth > 0 && store.open_commands(session).await? >= depth {
            return Err(ApiError::RateLimited {
                code: "quota.session_queue_depth_exceeded",
                message: format!("This session already has {depth} commands waiting; retry when they have run."),
                retry_after_ms: 1_000,
            });
        }
        let now = self.service.now_ms();
        let window = now - now.rem_euclid(HOUR_MS);
        for (key, limit, code) in [
            ("prompts:hour", self.quotas.prompts_per_hour, "quota.prompts_per_hour_exceeded"),
            ("gateway_prompts:hour", self.quotas.gateway_prompts_per_hour, "quota.gateway_prompts_per_hour_exceeded"),
        ] {
            if limit > 0 && !store.consume_quota(key, window, limit).await? {
                return Err(ApiError::RateLimited {
                    code,
                    message: format!("The hourly prompt quota ({limit}) is used up."),
                    retry_after_ms: u64::try_from(window + HOUR_MS - now).unwrap_or(1_000).max(1),
                });
            }
        }
        Ok(())
    }
}
