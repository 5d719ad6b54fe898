//! Fencing by binding epoch (scale-out): a store built [`with_fences`](super::GatewayStore::with_fences)
//! claims inbox and outbox rows only of the bindings its replica holds, at the epochs it holds
//! them, and commits a rendering only while the session's binding is still at the epoch the step
//! was rendered under, each checked in the statement's own transaction against
//! `gw_binding_owners` (`FOR SHARE` on Postgres, so a concurrent take waits for the check's
//! commit, or the check sees the take). A write refused that way is reported, and the replica
//! drops the binding.
//!
//! Outcome writes of claimed rows need no epoch of their own: they apply only while the row's
//! claim is held, and only a fenced claim takes a row.

use std::sync::Arc;

/// The bindings a replica holds, and where it hears of refusals.
pub trait Fences: Send + Sync + 'static {
    /// The bindings held and trusted now, with their epochs.
    fn held(&self) -> Vec<(String, i64)>;
    /// A fenced write on `binding` was refused.
    fn refused(&self, binding: &str);
}

/// The held set as the fenced statements take it: `[{"b": binding, "e": epoch}, ...]`.
pub(super) fn held_json(fences: &Arc<dyn Fences>) -> String {
    let held: Vec<serde_json::Value> =
        fences.held().into_iter().map(|(binding, epoch)| serde_json::json!({"b": binding, "e": epoch})).collect();
    serde_json::Value::Array(held).to_string()
}

/// The held bindings still at their epochs, from the held set in parameter `$p` (a
/// sub-select; the owner rows are share-locked on Postgres).
macro_rules! owned_bindings {
    (postgres, $p:literal) => {
        concat!(
            "SELECT o.binding_id FROM gw_binding_owners o JOIN jsonb_to_recordset(CAST(",
            $p,
            "::text AS jsonb)) AS f(b text, e bigint) ON o.binding_id = f.b AND o.epoch = f.e ",
            "WHERE o.owner_id IS NOT NULL FOR SHARE OF o"
        )
    };
    (sqlite, $p:literal) => {
        concat!(
            "SELECT o.binding_id FROM gw_binding_owners o JOIN json_each(",
            $p,
            ") f ON o.binding_id = json_extract(f.value, '$.b') AND o.epoch = json_extract(f.value, '$.e') ",
            "WHERE o.owner_id IS NOT NULL"
        )
    };
}
pub(super) use owned_bindings;

/// The condition "unfenced (`$p` NULL), or `$column` names a held binding".
macro_rules! fenced {
    (postgres, $column:literal, $p:literal) => {
        concat!(
            "(",
            $p,
            "::text IS NULL OR ",
            $column,
            " IN (",
            $crate::store::fence::owned_bindings!(postgres, $p),
            "))"
        )
    };
    (sqlite, $column:literal, $p:literal) => {
        concat!("(", $p, " IS NULL OR ", $column, " IN (", $crate::store::fence::owned_bindings!(sqlite, $p), "))")
    };
}
pub(super) use fenced;
