//! Property tests of the two durable queues (the inbox and the outbox) against a model, on both
//! databases: random interleavings of accepting, claiming by two workers, finishing, retrying,
//! deferring, dead-lettering, time passing beyond leases, a worker restarting (forgetting what it
//! held) and, for the outbox, an operator redrive. After every step the store's answers are
//! checked against what the model allows:
//!
//! - a claim returns only open rows that are due, never a finished one (each event is processed
//!   once, each delivery sent once), never two rows of one lane, never a row of a lane another
//!   claim still holds, and never a row while an earlier row of its lane is unfinished (lane
//!   order; a redriven row is the one exception: it goes out again late by design);
//! - a claim reports the attempts the model counted (a deferral costs none, a redrive resets);
//! - an outcome is applied exactly when the model says it must be: retries, deferrals, dead
//!   letters and the inbox's `done` only from the latest claimant that has not recorded yet
//!   (an expired lease nobody took over still counts), a delivery's `sent` whenever it is not
//!   sent yet (a delivered message is never lost to a lost lease);
//! - at the end, with time past every lease and retry, one worker drains both queues completely.

use std::collections::BTreeMap;

use cowork_cloud::database::Database;
use cowork_cloud::database::testing::TestDatabase;
use proptest::prelude::*;

use super::{LEASE, T0, chat, inbound, outbound, send, store, worker};
use crate::store::{
    DeliveryOutcome, DeliveryState, GatewayStore, InboxId, InboxOutcome, OutboxId, RedriveRequest, WorkerId,
};

const LANES: usize = 3;
const WORKERS: usize = 2;

/// Which queue a step acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Queue {
    Inbox,
    Outbox,
}

/// What a worker does with one row it holds.
#[derive(Clone, Copy, Debug)]
enum Finish {
    /// Done (inbox) or sent (outbox).
    Complete,
    /// Failed; again after this many ms (spends an attempt).
    Retry(i64),
    /// Outbox only: not attempted; again after this many ms (spends none).
    Defer(i64),
    /// Given up.
    Dead,
}

#[derive(Clone, Debug)]
enum Step {
    Accept(Queue, usize),
    Claim(Queue, usize, usize),
    Record(Queue, usize, usize, Finish),
    Advance(i64),
    Restart(usize),
    Redrive,
}

fn step() -> impl Strategy<Value = Step> {
    let queue = prop_oneof![Just(Queue::Inbox), Just(Queue::Outbox)];
    let finish = prop_oneof![
        3 => Just(Finish::Complete),
        2 => (0..LEASE).prop_map(Finish::Retry),
        1 => (0..LEASE).prop_map(Finish::Defer),
        1 => Just(Finish::Dead),
    ];
    prop_oneof![
        4 => (queue.clone(), 0..LANES).prop_map(|(q, lane)| Step::Accept(q, lane)),
        4 => (queue.clone(), 0..WORKERS, 1..4usize).prop_map(|(q, w, max)| Step::Claim(q, w, max)),
        5 => (queue, 0..WORKERS, 0..4usize, finish).prop_map(|(q, w, pick, f)| Step::Record(q, w, pick, f)),
        2 => (0..LEASE * 2).prop_map(Step::Advance),
        1 => (0..WORKERS).prop_map(Step::Restart),
        1 => Just(Step::Redrive),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    Finished,
    Dead,
}

/// The model of one row.
#[derive(Debug)]
struct Row {
    lane: usize,
    state: State,
    attempts: u32,
    due_at: i64,
    /// The latest claimant and until when its lease runs, until it records an outcome.
    claim: Option<(usize, i64)>,
    /// Dead-lettered and redriven once: it may go out after later rows of its lane.
    redriven: bool,
}

#[derive(Default)]
struct Model {
    rows: BTreeMap<(bool, i64), Row>,
    /// What each worker believes it holds: (outbox?, row id).
    held: [Vec<(bool, i64)>; WORKERS],
    accepted: usize,
}

fn is_outbox(queue: Queue) -> bool {
    queue == Queue::Outbox
}

impl Model {
    /// Checks one claimed row against the model and records the claim.
    fn claimed(&mut self, outbox: bool, id: i64, attempts: u32, by: usize, now: i64) {
        let row = self.rows.get(&(outbox, id)).unwrap_or_else(|| panic!("claimed an unknown row {id}"));
        assert_eq!(row.state, State::Open, "row {id} claimed in state {:?}", row.state);
        assert!(row.due_at <= now, "row {id} claimed before it was due");
        assert_eq!(row.attempts, attempts, "row {id} reports {attempts} attempts, the model counted {}", row.attempts);
        let lane = row.lane;
        for ((o, other_id), other) in &self.rows {
            if *o != outbox || other.lane != lane || *other_id == id {
                continue;
            }
            if let Some((holder, until)) = other.claim {
                assert!(
                    until <= now || other.state != State::Open,
                    "row {id} claimed while {other_id} of its lane is held by worker {holder}"
                );
            }
            if *other_id < id && !other.redriven && !row.redriven {
                assert_ne!(other.state, State::Open, "row {id} claimed before {other_id} of its lane finished");
            }
        }
        if let Some(row) = self.rows.get_mut(&(outbox, id)) {
            row.claim = Some((by, now + LEASE));
        }
        self.held[by].push((outbox, id));
    }

    /// Whether the store must apply `finish` of `id` from worker `by`, and the model after it.
    fn record(&mut self, outbox: bool, id: i64, by: usize, finish: Finish, now: i64) -> bool {
        let Some(row) = self.rows.get_mut(&(outbox, id)) else { return false };
        let holds = row.claim.is_some_and(|(holder, _)| holder == by) && row.state == State::Open;
        let applies = match finish {
            // A delivered message is recorded whoever holds the row, once.
            Finish::Complete if outbox => row.state != State::Finished,
            _ => holds,
        };
        if applies {
            row.claim = None;
            match finish {
                Finish::Complete => row.state = State::Finished,
                Finish::Retry(delay) => {
                    row.attempts += 1;
                    row.due_at = now + delay;
                }
                Finish::Defer(delay) => row.due_at = now + delay,
                Finish::Dead => {
                    row.attempts += 1;
                    row.state = State::Dead;
                }
            }
        }
        applies
    }
}

async fn accept(s: &GatewayStore, queue: Queue, n: usize, lane: usize, now: i64) -> i64 {
    let key = format!("m{n}");
    let lane_chat = chat(&format!("lane-{lane}"));
    match queue {
        Queue::Inbox => {
            let accepted = s.accept_inbound(&[inbound(&key, lane_chat)], now).await.unwrap_or_else(|e| panic!("{e}"));
            accepted.first().map(|a| a.id.0).unwrap_or_else(|| panic!("nothing accepted"))
        }
        Queue::Outbox => {
            s.enqueue_outbound(&[outbound(&key, lane_chat, None, send(&key))], now)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let standing = s.outbox_standing(std::slice::from_ref(&key)).await.unwrap_or_else(|e| panic!("{e}"));
            standing.get(&key).map(|row| row.id.0).unwrap_or_else(|| panic!("{key} not enqueued"))
        }
    }
}

async fn claim(s: &GatewayStore, queue: Queue, by: &WorkerId, now: i64, max: usize) -> Vec<(i64, u32)> {
    match queue {
        Queue::Inbox => s
            .claim_inbox(by, now, LEASE, max)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|i| (i.id.0, i.attempts))
            .collect(),
        Queue::Outbox => s
            .claim_outbox(by, now, LEASE, max)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|i| (i.id.0, i.attempts))
            .collect(),
    }
}

async fn record(s: &GatewayStore, outbox: bool, id: i64, by: &WorkerId, finish: Finish, now: i64) -> bool {
    if outbox {
        let outcome = match finish {
            Finish::Complete => DeliveryOutcome::Sent { provider_message_id: format!("p{id}") },
            Finish::Retry(delay) => DeliveryOutcome::Retry { at: now + delay, error: "503".into() },
            Finish::Defer(delay) => DeliveryOutcome::Defer { at: now + delay },
            Finish::Dead => DeliveryOutcome::Dead { reason: "400".into() },
        };
        s.record_delivery(OutboxId(id), by, outcome, now).await.unwrap_or_else(|e| panic!("{e}"))
    } else {
        let outcome = match finish {
            Finish::Complete => InboxOutcome::Done,
            Finish::Retry(delay) | Finish::Defer(delay) => InboxOutcome::Retry { at: now + delay, error: "503".into() },
            Finish::Dead => InboxOutcome::Dead { reason: "gone".into() },
        };
        s.record_inbox(InboxId(id), by, outcome, now).await.unwrap_or_else(|e| panic!("{e}"))
    }
}

async fn run(db: Database, steps: Vec<Step>) {
    let s = store(db);
    let workers: Vec<WorkerId> = (0..WORKERS).map(|i| worker(&format!("w{i}"))).collect();
    let mut model = Model::default();
    let mut now = T0;
    for step in steps {
        match step {
            Step::Accept(queue, lane) => {
                model.accepted += 1;
                let id = accept(&s, queue, model.accepted, lane, now).await;
                let row = Row { lane, state: State::Open, attempts: 0, due_at: now, claim: None, redriven: false };
                assert!(model.rows.insert((is_outbox(queue), id), row).is_none(), "row id {id} reused");
            }
            Step::Claim(queue, by, max) => {
                let claimed = claim(&s, queue, &workers[by], now, max).await;
                assert!(claimed.len() <= max);
                for (id, attempts) in claimed {
                    model.claimed(is_outbox(queue), id, attempts, by, now);
                }
            }
            Step::Record(queue, by, pick, finish) => {
                let outbox = is_outbox(queue);
                let held: Vec<usize> = (0..model.held[by].len()).filter(|i| model.held[by][*i].0 == outbox).collect();
                let Some(index) = held.get(pick % held.len().max(1)).copied() else { continue };
                let (_, id) = model.held[by].remove(index);
                let finish = if !outbox && matches!(finish, Finish::Defer(_)) { Finish::Retry(0) } else { finish };
                let expected = model.record(outbox, id, by, finish, now);
                let applied = record(&s, outbox, id, &workers[by], finish, now).await;
                assert_eq!(
                    applied, expected,
                    "{finish:?} of row {id} by worker {by}: store {applied}, model {expected}"
                );
            }
            Step::Advance(ms) => now += ms,
            Step::Restart(by) => model.held[by].clear(),
            Step::Redrive => {
                let request =
                    RedriveRequest { state: DeliveryState::Dead, binding_id: None, limit: 1000, dry_run: false };
                let redriven = s.redrive_deliveries(&request, now).await.unwrap_or_else(|e| panic!("{e}"));
                let dead: Vec<i64> = model
                    .rows
                    .iter()
                    .filter(|((o, _), r)| *o && r.state == State::Dead)
                    .map(|((_, id), _)| *id)
                    .collect();
                assert_eq!(
                    redriven.iter().map(|id| id.0).collect::<Vec<_>>(),
                    dead,
                    "redrive takes exactly the dead rows"
                );
                for id in dead {
                    if let Some(row) = model.rows.get_mut(&(true, id)) {
                        *row =
                            Row { state: State::Open, attempts: 0, due_at: now, claim: None, redriven: true, ..*row };
                    }
                }
            }
        }
    }
    // Past every lease and retry, one worker drains both queues, in lane order.
    now += LEASE * 4;
    model.held = Default::default();
    for queue in [Queue::Inbox, Queue::Outbox] {
        let outbox = is_outbox(queue);
        for _ in 0..model.rows.len() + 1 {
            let claimed = claim(&s, queue, &workers[0], now, 100).await;
            if claimed.is_empty() {
                break;
            }
            for (id, attempts) in claimed {
                model.claimed(outbox, id, attempts, 0, now);
                assert!(model.record(outbox, id, 0, Finish::Complete, now));
                assert!(record(&s, outbox, id, &workers[0], Finish::Complete, now).await, "draining row {id}");
            }
        }
        let open: Vec<i64> = model
            .rows
            .iter()
            .filter(|((o, _), r)| *o == outbox && r.state == State::Open)
            .map(|((_, id), _)| *id)
            .collect();
        assert!(open.is_empty(), "{queue:?} rows never drained: {open:?}");
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24)
}

fn check(postgres: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let runtime = runtime.unwrap_or_else(|e| panic!("runtime: {e}"));
    let config = ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(steps in proptest::collection::vec(step(), 1..80))| {
        runtime.block_on(async {
            let database = if postgres { TestDatabase::postgres().await } else { Some(TestDatabase::sqlite().await) };
            if let Some(database) = database {
                run(database.db.clone(), steps).await;
            }
        });
    });
}

#[test]
fn sqlite_queues_keep_their_invariants_under_random_interleavings() {
    check(false);
}

#[test]
fn postgres_queues_keep_their_invariants_under_random_interleavings() {
    check(true);
}
