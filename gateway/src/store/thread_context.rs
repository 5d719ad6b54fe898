//! Reply contexts: the provider-owned threading state of a thread (see
//! [`cowork_providers::InboundEvent::reply_context`]), latest one wins.

use cowork_cloud::{with_reader, with_writer};
use cowork_providers::{BindingId, ChatRef};

use super::{GatewayStore, Millis, StoreError};

const SAVE: &str = "INSERT INTO gw_thread_contexts (binding_id, chat_id, thread_key, reply_context, \
     updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (binding_id, chat_id, thread_key) \
     DO UPDATE SET reply_context = excluded.reply_context, updated_at = excluded.updated_at";

const LOAD: &str = "SELECT reply_context FROM gw_thread_contexts \
     WHERE binding_id = $1 AND chat_id = $2 AND thread_key = $3";

impl GatewayStore {
    /// Records `context` as the thread's latest reply context.
    pub async fn save_reply_context(
        &self,
        binding: &BindingId,
        chat: &ChatRef,
        context: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        with_writer!(&self.db, |pool| {
            sqlx::query(SAVE)
                .bind(binding.as_str())
                .bind(chat.chat_id.as_str())
                .bind(chat.thread_key())
                .bind(context)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The thread's latest reply context, if a provider ever attached one.
    pub async fn reply_context(&self, binding: &BindingId, chat: &ChatRef) -> Result<Option<String>, StoreError> {
        let found = with_reader!(&self.db, |pool| {
            sqlx::query_scalar::<_, String>(LOAD)
                .bind(binding.as_str())
                .bind(chat.chat_id.as_str())
                .bind(chat.thread_key())
                .fetch_optional(pool)
                .await?
        });
        Ok(found)
    }
}
