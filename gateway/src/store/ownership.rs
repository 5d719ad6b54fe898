//! Membership and binding ownership for scale-out: replicas register and heartbeat by the
//! database's clock; a binding is taken with a conditional update that bumps its epoch, renewed
//! only by the incarnation holding it, and released (epoch kept) on hand-off.
//!
//! Every statement is conditional, so two replicas racing for one binding cannot both win: the
//! row lock makes the second re-check its condition after the first commits.

use cowork_cloud::database::Backend;
use cowork_cloud::{with_reader, with_writer};

use super::{GatewayStore, Millis, StoreError};

/// Now by the database's clock, in unix milliseconds.
fn database_now(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        Backend::Sqlite => "SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
    }
}

const REGISTER: &str = "INSERT INTO gw_members (instance_id, incarnation, state, started_at, heartbeat_at) \
     VALUES ($1, $2, 'active', $3, $3) ON CONFLICT (instance_id) DO UPDATE SET \
     incarnation = excluded.incarnation, state = 'active', started_at = excluded.started_at, \
     heartbeat_at = excluded.heartbeat_at";

const HEARTBEAT: &str = "UPDATE gw_members SET heartbeat_at = $1 WHERE instance_id = $2 AND incarnation = $3";

const SET_STATE: &str = "UPDATE gw_members SET state = $1 WHERE instance_id = $2 AND incarnation = $3";

const LEAVE: &str = "DELETE FROM gw_members WHERE instance_id = $1 AND incarnation = $2";

const FORGET_GONE: &str = "DELETE FROM gw_members WHERE heartbeat_at < $1";

const MEMBERS: &str = "SELECT instance_id, state, started_at, heartbeat_at FROM gw_members ORDER BY instance_id";

const ENSURE_BINDING: &str =
    "INSERT INTO gw_binding_owners (binding_id, updated_at) VALUES ($1, $2) ON CONFLICT (binding_id) DO NOTHING";

const OWNERS: &str = "SELECT binding_id, owner_id, owner_incarnation, epoch, lease_expires_at, avoid_owner \
     FROM gw_binding_owners ORDER BY binding_id";

/// Takes a binding that is free, lapsed, or held by an earlier incarnation of this instance:
/// `$1` instance, `$2` incarnation, `$3` lease expiry, `$4` now, `$5` binding.
const TAKE: &str = "UPDATE gw_binding_owners SET owner_id = $1, owner_incarnation = $2, epoch = epoch + 1, \
     lease_expires_at = $3, updated_at = $4 WHERE binding_id = $5 \
     AND (owner_id IS NULL OR lease_expires_at <= $4 OR owner_id = $1) \
     AND (owner_incarnation IS NULL OR owner_incarnation <> $2) RETURNING epoch";

/// Extends every lease this incarnation holds: `$1` expiry, `$2` now, `$3` instance, `$4` incarnation.
const RENEW: &str = "UPDATE gw_binding_owners SET lease_expires_at = $1, updated_at = $2 \
     WHERE owner_id = $3 AND owner_incarnation = $4 RETURNING binding_id, epoch";

/// Hands a binding back (the epoch stays): `$1` now, `$2` binding, `$3` incarnation, `$4` epoch.
const RELEASE: &str = "UPDATE gw_binding_owners SET owner_id = NULL, owner_incarnation = NULL, \
     lease_expires_at = $1, updated_at = $1 WHERE binding_id = $2 AND owner_incarnation = $3 AND epoch = $4";

/// Hands back everything an incarnation holds: `$1` now, `$2` incarnation.
const RELEASE_ALL: &str = "UPDATE gw_binding_owners SET owner_id = NULL, owner_incarnation = NULL, \
     lease_expires_at = $1, updated_at = $1 WHERE owner_incarnation = $2";

/// Takes a binding from whoever holds it and keeps it away from them while others are live,
/// fencing the holder at once (the epoch grows): `$1` now, `$2` binding.
const MOVE: &str = "UPDATE gw_binding_owners SET avoid_owner = COALESCE(owner_id, avoid_owner), owner_id = NULL, \
     owner_incarnation = NULL, epoch = epoch + 1, lease_expires_at = $1, updated_at = $1 WHERE binding_id = $2 \
     RETURNING epoch, avoid_owner";

/// One replica as the members table has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    /// Its instance id.
    pub instance_id: String,
    /// `active` or `draining`.
    pub state: String,
    /// When it registered (database clock).
    pub started_at: Millis,
    /// Its last heartbeat (database clock).
    pub heartbeat_at: Millis,
}

/// One binding's ownership row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRow {
    /// The binding.
    pub binding_id: String,
    /// The instance holding it, if any.
    pub owner_id: Option<String>,
    /// The process (incarnation) of that instance holding it.
    pub owner_incarnation: Option<String>,
    /// The fencing token: grows by one whenever the binding changes hands.
    pub epoch: i64,
    /// When the holder's lease lapses (database clock).
    pub lease_expires_at: Millis,
    /// An instance an operator moved the binding away from.
    pub avoid_owner: Option<String>,
}

/// Who a statement acts for.
#[derive(Clone, Copy, Debug)]
pub struct Incarnation<'a> {
    /// The instance id.
    pub instance_id: &'a str,
    /// This process's incarnation of it.
    pub incarnation: &'a str,
}

impl GatewayStore {
    /// Now by the database's clock.
    pub async fn database_now(&self) -> Result<Millis, StoreError> {
        let sql = database_now(self.db.backend());
        Ok(with_reader!(&self.db, |pool| sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await?))
    }

    /// Registers this process as `me` (replacing an earlier incarnation of the instance, which is
    /// fenced from then on), with rows for `bindings`; returns the database's time.
    pub async fn register_member(&self, me: Incarnation<'_>, bindings: &[String]) -> Result<Millis, StoreError> {
        let now = self.database_now().await?;
        with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(REGISTER).bind(me.instance_id).bind(me.incarnation).bind(now).execute(&mut *tx).await?;
            for binding in bindings {
                sqlx::query(ENSURE_BINDING).bind(binding).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(now)
    }

    /// Records a heartbeat; `false` when another process has taken the instance id over.
    pub async fn heartbeat(&self, me: Incarnation<'_>, now: Millis) -> Result<bool, StoreError> {
        let changed = with_writer!(&self.db, |pool| {
            sqlx::query(HEARTBEAT)
                .bind(now)
                .bind(me.instance_id)
                .bind(me.incarnation)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Marks this process draining: peers stop counting it as a place for bindings.
    pub async fn set_member_draining(&self, me: Incarnation<'_>) -> Result<(), StoreError> {
        with_writer!(&self.db, |pool| {
            sqlx::query(SET_STATE).bind("draining").bind(me.instance_id).bind(me.incarnation).execute(pool).await?;
        });
        Ok(())
    }

    /// Releases everything this process holds and removes its member row.
    pub async fn leave(&self, me: Incarnation<'_>) -> Result<(), StoreError> {
        let now = self.database_now().await?;
        with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(RELEASE_ALL).bind(now).bind(me.incarnation).execute(&mut *tx).await?;
            sqlx::query(LEAVE).bind(me.instance_id).bind(me.incarnation).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Forgets members silent since `before`.
    pub async fn forget_members(&self, before: Millis) -> Result<(), StoreError> {
        with_writer!(&self.db, |pool| {
            sqlx::query(FORGET_GONE).bind(before).execute(pool).await?;
        });
        Ok(())
    }

    /// Every member row.
    pub async fn members(&self) -> Result<Vec<MemberRow>, StoreError> {
        let rows = with_reader!(&self.db, |pool| {
            sqlx::query_as::<_, (String, String, i64, i64)>(MEMBERS).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(instance_id, state, started_at, heartbeat_at)| MemberRow {
                instance_id,
                state,
                started_at,
                heartbeat_at,
            })
            .collect())
    }

    /// Every binding's ownership row.
    pub async fn binding_owners(&self) -> Result<Vec<OwnerRow>, StoreError> {
        let rows = with_reader!(&self.db, |pool| {
            sqlx::query_as::<_, (String, Option<String>, Option<String>, i64, i64, Option<String>)>(OWNERS)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(binding_id, owner_id, owner_incarnation, epoch, lease_expires_at, avoid_owner)| OwnerRow {
                binding_id,
                owner_id,
                owner_incarnation,
                epoch,
                lease_expires_at,
                avoid_owner,
            })
            .collect())
    }

    /// Takes `binding` for `me` until `now + lease_ms` if it is free, lapsed or held by an
    /// earlier incarnation of this instance; the new epoch when taken.
    pub async fn take_binding(
        &self,
        me: Incarnation<'_>,
        binding: &str,
        now: Millis,
        lease_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let epoch = with_writer!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>(TAKE)
                .bind(me.instance_id)
                .bind(me.incarnation)
                .bind(now + lease_ms)
                .bind(now)
                .bind(binding)
                .fetch_optional(pool)
                .await?
        });
        Ok(epoch)
    }

    /// Renews every lease `me` holds until `now + lease_ms`; the bindings still held, with epochs.
    pub async fn renew_bindings(
        &self,
        me: Incarnation<'_>,
        now: Millis,
        lease_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let held = with_writer!(&self.db, |pool| {
            sqlx::query_as::<_, (String, i64)>(RENEW)
                .bind(now + lease_ms)
                .bind(now)
                .bind(me.instance_id)
                .bind(me.incarnation)
                .fetch_all(pool)
                .await?
        });
        Ok(held)
    }

    /// Hands `binding` back if `me` still holds it at `epoch`; whether it did.
    pub async fn release_binding(
        &self,
        me: Incarnation<'_>,
        binding: &str,
        epoch: i64,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let changed = with_writer!(&self.db, |pool| {
            sqlx::query(RELEASE)
                .bind(now)
                .bind(binding)
                .bind(me.incarnation)
                .bind(epoch)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Moves `binding` away from its holder now (an operator's release): the holder is fenced
    /// and the binding goes to another live replica. The new epoch and the instance avoided;
    /// `None` for an unknown binding.
    pub async fn move_binding(&self, binding: &str) -> Result<Option<(i64, Option<String>)>, StoreError> {
        let now = self.database_now().await?;
        let moved = with_writer!(&self.db, |pool| {
            sqlx::query_as::<_, (i64, Option<String>)>(MOVE).bind(now).bind(binding).fetch_optional(pool).await?
        });
        Ok(moved)
    }
}
