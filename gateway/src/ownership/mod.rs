//! Which replica works which channel binding (scale-out). Every replica registers under its
//! instance id and heartbeats by the database's clock; each binding belongs to the live member
//! rendezvous hashing picks, and that member takes it with a conditional update that bumps the
//! binding's epoch (its fencing token). The holder renews its leases every round and trusts a
//! binding only until its own monotonic clock says the lease may have lapsed, so it stops acting
//! before anyone else can take it. A member that is no longer a binding's pick releases it, so
//! joins and leaves move only their share; on SIGTERM a replica drains, then releases everything
//! so peers take over at once.
//!
//! Two processes with one instance id: the later one replaces the member row, and the earlier
//! one, finding its heartbeat refused, drops every binding for good (it is fenced).

pub mod instance;
mod rendezvous;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, duration_ms};
use crate::store::{GatewayStore, Incarnation, Millis, StoreError};

/// Members silent this long are forgotten (their rows only clutter `/ownership`).
const FORGET_AFTER_MS: Millis = 60 * 60 * 1000;

/// How often ownership is reconciled at most (heartbeats are written every `heartbeat`).
const MAX_ROUND: Duration = Duration::from_secs(1);

/// Membership timing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnershipSettings {
    /// This replica's instance id (`OPEN_COWORK_GATEWAY_INSTANCE_ID`).
    pub instance_id: String,
    /// How often the heartbeat is written (`OPEN_COWORK_GATEWAY_HEARTBEAT_INTERVAL_MS`, 5 s).
    pub heartbeat: Duration,
    /// How long a heartbeat keeps a member live and a renewal keeps a binding held
    /// (`OPEN_COWORK_GATEWAY_OWNERSHIP_LEASE_MS`, 15 s).
    pub lease: Duration,
}

impl OwnershipSettings {
    /// The defaults under `instance_id`.
    pub fn new(instance_id: String) -> Self {
        Self { instance_id, heartbeat: Duration::from_secs(5), lease: Duration::from_secs(15) }
    }

    /// How long before the lease's end a holder stops trusting it (River's one second, less
    /// for short test leases), covering a renewal's own latency.
    fn margin_ms(&self) -> Millis {
        (duration_ms(self.lease) / 4).min(1_000)
    }
}

/// A binding this process holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    epoch: i64,
    /// On the monotonic clock: until when acting on it is safe.
    trusted_until: Millis,
}

/// What one round changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Bindings taken.
    pub taken: Vec<String>,
    /// Bindings handed to their new pick.
    pub released: Vec<String>,
    /// Bindings lost (taken over, or moved by an operator).
    pub lost: Vec<String>,
}

/// This replica's ownership: what it holds and the loop keeping it.
pub struct Ownership {
    store: GatewayStore,
    clock: Arc<dyn Clock>,
    settings: OwnershipSettings,
    incarnation: String,
    bindings: Vec<String>,
    held: std::sync::RwLock<HashMap<String, Held>>,
    /// On the monotonic clock: when the last heartbeat was written.
    last_heartbeat: std::sync::Mutex<Option<Millis>>,
    draining: AtomicBool,
    fenced: AtomicBool,
    changes: AtomicU64,
    refused_writes: AtomicU64,
    taken: Arc<tokio::sync::Notify>,
}

impl Ownership {
    /// Ownership of `bindings` for this process (a fresh incarnation of the instance id).
    pub fn new(
        store: GatewayStore,
        clock: Arc<dyn Clock>,
        settings: OwnershipSettings,
        bindings: Vec<String>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            clock,
            settings,
            incarnation: uuid::Uuid::new_v4().simple().to_string(),
            bindings,
            held: std::sync::RwLock::default(),
            last_heartbeat: std::sync::Mutex::default(),
            draining: AtomicBool::new(false),
            fenced: AtomicBool::new(false),
            changes: AtomicU64::new(0),
            refused_writes: AtomicU64::new(0),
            taken: Arc::default(),
        })
    }

    /// The instance id.
    pub fn instance_id(&self) -> &str {
        &self.settings.instance_id
    }

    /// The settings.
    pub fn settings(&self) -> &OwnershipSettings {
        &self.settings
    }

    fn me(&self) -> Incarnation<'_> {
        Incarnation { instance_id: &self.settings.instance_id, incarnation: &self.incarnation }
    }

    /// The epoch of `binding` if this process holds it and may act on it now.
    pub fn epoch(&self, binding: &str) -> Option<i64> {
        let now = self.clock.monotonic_ms();
        let held = self.held.read().ok()?;
        held.get(binding).filter(|h| h.trusted_until > now).map(|h| h.epoch)
    }

    /// The bindings this process may act on now, with their epochs, by binding id.
    pub fn held(&self) -> Vec<(String, i64)> {
        let now = self.clock.monotonic_ms();
        let Ok(held) = self.held.read() else { return Vec::new() };
        let mut list: Vec<(String, i64)> =
            held.iter().filter(|(_, h)| h.trusted_until > now).map(|(b, h)| (b.clone(), h.epoch)).collect();
        list.sort();
        list
    }

    /// A write fenced on `binding` was refused: the binding is someone else's now; drop it.
    pub fn write_refused(&self, binding: &str) {
        self.refused_writes.fetch_add(1, Ordering::Relaxed);
        if self.forget(binding) {
            tracing::warn!(binding, "a fenced write was refused: the binding has a new owner; dropping it");
        }
    }

    /// Notified whenever this replica takes a binding (its workers look for that binding's work).
    pub fn taken(&self) -> Arc<tokio::sync::Notify> {
        self.taken.clone()
    }

    /// Whether another process took this instance id over (this one acts on nothing any more).
    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Relaxed)
    }

    /// Ownership changes so far (taken, released, lost).
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    /// The figures the metrics show.
    pub fn figures(&self) -> crate::metrics::OwnershipFigures {
        crate::metrics::OwnershipFigures {
            owned: self.held().len(),
            changes: self.changes(),
            refused_writes: self.refused_writes(),
        }
    }

    /// Fenced writes refused so far.
    pub fn refused_writes(&self) -> u64 {
        self.refused_writes.load(Ordering::Relaxed)
    }

    fn forget(&self, binding: &str) -> bool {
        let removed = self.held.write().map(|mut held| held.remove(binding).is_some()).unwrap_or(false);
        if removed {
            self.changes.fetch_add(1, Ordering::Relaxed);
        }
        removed
    }

    fn hold(&self, binding: &str, epoch: i64, trusted_until: Millis) {
        if let Ok(mut held) = self.held.write() {
            held.insert(binding.to_owned(), Held { epoch, trusted_until });
        }
    }

    /// Registers this process (fencing an earlier one with the same instance id).
    pub async fn register(&self) -> Result<(), StoreError> {
        self.store.register_member(self.me(), &self.bindings).await?;
        if let Ok(mut last) = self.last_heartbeat.lock() {
            *last = Some(self.clock.monotonic_ms());
        }
        Ok(())
    }

    /// Reconciles every round until `shutdown`; a failed round is logged, and held bindings
    /// lapse on their own once their trust runs out.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let round = self.settings.heartbeat.min(MAX_ROUND);
        loop {
            match self.round().await {
                Ok(report) => {
                    for binding in &report.taken {
                        tracing::info!(binding, "took channel binding");
                    }
                    for binding in &report.released {
                        tracing::info!(binding, "handed channel binding to its new owner");
                    }
                    for binding in &report.lost {
                        tracing::warn!(binding, "lost channel binding");
                    }
                }
                Err(error) => tracing::warn!(%error, "ownership round failed; held bindings lapse unless renewed"),
            }
            if self.is_fenced() {
                return;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(round) => {}
            }
        }
    }

    /// One round: heartbeat, renew, release what belongs elsewhere now, take what is ours.
    pub async fn round(&self) -> Result<RoundReport, StoreError> {
        let mut report = RoundReport::default();
        if self.is_fenced() {
            return Ok(report);
        }
        let started = self.clock.monotonic_ms();
        let lease = duration_ms(self.settings.lease);
        let trusted_until = started + lease - self.settings.margin_ms();
        let now = self.store.database_now().await?;
        let last = self.last_heartbeat.lock().ok().and_then(|last| *last);
        if last.is_none_or(|last| started - last >= duration_ms(self.settings.heartbeat)) {
            if !self.store.heartbeat(self.me(), now).await? {
                report.lost = self.held().into_iter().map(|(binding, _)| binding).collect();
                self.step_down_for_good();
                return Ok(report);
            }
            if let Ok(mut last) = self.last_heartbeat.lock() {
                *last = Some(started);
            }
            self.store.forget_members(now - FORGET_AFTER_MS).await?;
        }

        // Renew, and learn what the database says this process holds (a take whose answer was
        // lost still counts).
        let renewed: HashMap<String, i64> =
            self.store.renew_bindings(self.me(), now, lease).await?.into_iter().collect();
        let before: HashMap<String, Held> = self.held.read().map(|h| h.clone()).unwrap_or_default();
        for (binding, held) in &before {
            if renewed.get(binding) != Some(&held.epoch) {
                self.forget(binding);
                report.lost.push(binding.clone());
            }
        }
        for (binding, epoch) in &renewed {
            self.hold(binding, *epoch, trusted_until);
        }

        // Draining: keep what is held until the work in flight is done, take nothing new.
        if self.draining.load(Ordering::Relaxed) {
            return Ok(report);
        }
        let mut live: Vec<String> = self
            .store
            .members()
            .await?
            .into_iter()
            .filter(|m| m.state == "active" && m.heartbeat_at > now - lease)
            .map(|m| m.instance_id)
            .collect();
        if !live.iter().any(|id| id == self.instance_id()) {
            live.push(self.instance_id().to_owned());
        }
        let owners: HashMap<String, crate::store::OwnerRow> =
            self.store.binding_owners().await?.into_iter().map(|row| (row.binding_id.clone(), row)).collect();
        let configured: HashSet<&String> = self.bindings.iter().collect();
        for binding in configured {
            let avoid = owners.get(binding).and_then(|row| row.avoid_owner.as_deref());
            let candidates: Vec<String> = match avoid {
                Some(avoid) if live.iter().any(|id| id != avoid) => {
                    live.iter().filter(|id| *id != avoid).cloned().collect()
                }
                _ => live.clone(),
            };
            let pick = rendezvous::owner_of(binding, &candidates);
            let mine = pick == Some(self.instance_id());
            let held = renewed.get(binding).copied();
            if let Some(epoch) = held {
                if !mine && pick.is_some() && self.store.release_binding(self.me(), binding, epoch, now).await? {
                    self.forget(binding);
                    report.released.push(binding.clone());
                }
            } else if mine && let Some(epoch) = self.store.take_binding(self.me(), binding, now, lease).await? {
                self.hold(binding, epoch, trusted_until);
                self.changes.fetch_add(1, Ordering::Relaxed);
                report.taken.push(binding.clone());
                self.taken.notify_waiters();
            }
        }
        Ok(report)
    }

    /// Stops counting as a place for bindings (SIGTERM) while keeping what it holds: peers take
    /// over once this process [leaves](Self::leave).
    pub async fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
        if let Err(error) = self.store.set_member_draining(self.me()).await {
            tracing::warn!(%error, "could not mark this replica draining");
        }
    }

    /// Releases every binding and removes this member, so peers take over at once.
    pub async fn leave(&self) {
        if let Ok(mut held) = self.held.write() {
            held.clear();
        }
        if self.is_fenced() {
            return;
        }
        match self.store.leave(self.me()).await {
            Ok(()) => tracing::info!("released every channel binding"),
            Err(error) => {
                tracing::warn!(%error, "could not release the channel bindings; they lapse with their leases")
            }
        }
    }

    fn step_down_for_good(&self) {
        self.fenced.store(true, Ordering::Relaxed);
        if let Ok(mut held) = self.held.write() {
            held.clear();
        }
        tracing::error!(
            instance = self.instance_id(),
            "another process registered with this instance id; this one acts on no binding any more"
        );
    }
}

impl crate::store::Fences for Ownership {
    fn held(&self) -> Vec<(String, i64)> {
        Ownership::held(self)
    }

    fn refused(&self, binding: &str) {
        self.write_refused(binding);
    }
}

#[cfg(test)]
mod tests;
