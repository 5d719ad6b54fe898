//! Interaction handles: finding an interaction by its short code and deciding it atomically,
//! so two answers in flight can never both win.

use cowork_cloud::{with_reader, with_writer};
use cowork_cloud_client::SessionId;
use cowork_providers::{BindingId, ChatRef, ProviderId};

use super::{DecideOutcome, Decision, GatewayStore, Interaction, InteractionKind, Millis, NewInteraction, StoreError};

/// Inserts an interaction, keeping an existing one for the same (session, target).
pub(super) const INSERT_INTERACTION: &str = "INSERT INTO gw_interactions (code, binding_id, \
     provider_id, session_id, chat_id, thread_id, kind, target_id, prompt_text, options, \
     message_key, expires_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
     ON CONFLICT (session_id, target_id) DO NOTHING";

const COLUMNS: &str = "code, binding_id, provider_id, session_id, chat_id, thread_id, kind, \
     target_id, prompt_text, options, message_key, expires_at, decided_by, decided_choice, \
     decided_event, decided_at";

type InteractionRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// An interaction, encoded for its row.
pub(super) struct InteractionInsert<'a> {
    /// The interaction.
    pub spec: &'a NewInteraction,
    /// Its kind as stored.
    pub kind: &'static str,
    /// Its options as JSON.
    pub options: String,
}

impl<'a> InteractionInsert<'a> {
    /// Encodes `spec` for [`INSERT_INTERACTION`].
    pub fn encode(spec: &'a NewInteraction) -> Result<Self, StoreError> {
        let options = serde_json::to_string(&spec.options)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode interaction options: {e}")))?;
        Ok(Self { spec, kind: kind_name(spec.kind), options })
    }
}

impl GatewayStore {
    /// The interaction whose code is `code`, if any.
    pub async fn find_interaction(&self, code: &str) -> Result<Option<Interaction>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM gw_interactions WHERE code = $1");
        let row = with_reader!(&self.db, |pool| {
            sqlx::query_as::<_, InteractionRow>(&sql).bind(code).fetch_optional(pool).await?
        });
        row.map(decode).transpose()
    }

    /// Interactions still waiting for an answer at `now` (undecided, unexpired), soonest to
    /// expire first, at most `limit`.
    pub async fn pending_interactions(&self, now: Millis, limit: u32) -> Result<Vec<Interaction>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM gw_interactions WHERE decided_at IS NULL AND expires_at > $1 \
             ORDER BY expires_at LIMIT $2"
        );
        let rows = with_reader!(&self.db, |pool| {
            sqlx::query_as::<_, InteractionRow>(&sql).bind(now).bind(i64::from(limit)).fetch_all(pool).await?
        });
        rows.into_iter().map(decode).collect()
    }

    /// Decides the interaction `code` if it is open and not expired at `now`; exactly one
    /// decision ever wins. Retrying the winning decision (same `event_key`) wins again.
    pub async fn decide_interaction(
        &self,
        code: &str,
        decision: Decision,
        now: Millis,
    ) -> Result<DecideOutcome, StoreError> {
        // Single winner: the conditional UPDATE is atomic on both engines (Postgres re-checks
        // `decided_at IS NULL` after waiting for a concurrent winner's row lock).
        let sql = format!(
            "UPDATE gw_interactions SET decided_by = $1, decided_choice = $2, decided_event = $3, \
             decided_at = $4 WHERE code = $5 AND decided_at IS NULL AND expires_at > $6 \
             RETURNING {COLUMNS}"
        );
        let won = with_writer!(&self.db, |pool| {
            sqlx::query_as::<_, InteractionRow>(&sql)
                .bind(decision.by.as_str())
                .bind(decision.choice.as_str())
                .bind(decision.event_key.as_str())
                .bind(decision.at)
                .bind(code)
                .bind(now)
                .fetch_optional(pool)
                .await?
        });
        if let Some(row) = won {
            return Ok(DecideOutcome::Won(decode(row)?));
        }
        let Some(existing) = self.find_interaction(code).await? else {
            return Ok(DecideOutcome::Unknown);
        };
        Ok(match &existing.decision {
            Some(winner) if winner.event_key == decision.event_key => DecideOutcome::Won(existing),
            Some(_) => DecideOutcome::AlreadyDecided(existing),
            None => DecideOutcome::Expired,
        })
    }
}

fn kind_name(kind: InteractionKind) -> &'static str {
    match kind {
        InteractionKind::Permission => "permission",
        InteractionKind::Question => "question",
    }
}

fn decode(row: InteractionRow) -> Result<Interaction, StoreError> {
    let (code, binding_id, provider_id, session_id, chat_id, thread_id, kind, target_id) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
    let (prompt_text, options, message_key, expires_at) = (row.8, row.9, row.10, row.11);
    let kind = match kind.as_str() {
        "permission" => InteractionKind::Permission,
        "question" => InteractionKind::Question,
        other => {
            return Err(StoreError::Corrupt(format!("interaction {code}: unknown kind {other:?}")));
        }
    };
    let options: Vec<String> =
        serde_json::from_str(&options).map_err(|e| StoreError::Corrupt(format!("interaction {code} options: {e}")))?;
    let decision = match (row.12, row.13, row.14, row.15) {
        (Some(by), Some(choice), Some(event_key), Some(at)) => Some(Decision { by, choice, event_key, at }),
        (None, None, None, None) => None,
        _ => {
            return Err(StoreError::Corrupt(format!("interaction {code}: partial decision")));
        }
    };
    let spec = NewInteraction {
        code,
        binding_id: BindingId::new(binding_id),
        provider_id: ProviderId::new(provider_id),
        session_id: SessionId::new(session_id),
        chat: ChatRef { chat_id, thread_id },
        kind,
        target_id,
        prompt_text,
        options,
        message_key,
        expires_at,
    };
    Ok(Interaction { spec, decision })
}
