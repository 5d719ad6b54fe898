//! Group commit: callers of one kind of write that arrive while an earlier batch of it is being
//! written share the next transaction, so a busy process pays one commit (one WAL sync) for many
//! writes instead of one each. Every caller still returns only once its own write is committed:
//! durability is unchanged, only the cost is shared. A lone caller is written at once, alone.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Most requests one shared transaction carries by default.
pub const MAX_BATCH: usize = 256;

/// Batches requests of type `Req`, each answered with an `Out`.
pub struct GroupCommit<Req, Out> {
    queue: Mutex<Vec<(Req, oneshot::Sender<Out>)>>,
    /// Held while a batch is written: requests arriving meanwhile wait for the next one.
    writing: Arc<tokio::sync::Mutex<()>>,
    /// Batches larger than this are split (one statement list per transaction stays bounded).
    max_batch: usize,
}

impl<Req, Out> std::fmt::Debug for GroupCommit<Req, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").field("max_batch", &self.max_batch).finish_non_exhaustive()
    }
}

impl<Req: Send + 'static, Out: Send + 'static> Default for GroupCommit<Req, Out> {
    /// A group with at most [`MAX_BATCH`] requests per transaction.
    fn default() -> Self {
        Self::new(MAX_BATCH)
    }
}

impl<Req: Send + 'static, Out: Send + 'static> GroupCommit<Req, Out> {
    /// A group with at most `max_batch` requests per transaction.
    pub fn new(max_batch: usize) -> Self {
        Self { queue: Mutex::new(Vec::new()), writing: Arc::default(), max_batch: max_batch.max(1) }
    }

    /// Queues `request` and answers its outcome once committed. Whoever finds the writer free
    /// takes every queued request and runs `write` on them (answers in request order) on a task
    /// of its own, so a caller that gives up waiting never cuts a batch short. `lost` answers a
    /// request whose batch task died without answering (a panic).
    pub async fn submit<W, Fut>(&self, request: Req, write: W, lost: fn() -> Out) -> Out
    where
        W: FnOnce(Vec<Req>) -> Fut,
        Fut: Future<Output = Vec<Out>> + Send + 'static,
    {
        let (reply, mut answer) = oneshot::channel();
        self.lock_queue().push((request, reply));
        let writing = self.writing.clone().lock_owned().await;
        // An earlier batch may have carried this request already.
        match answer.try_recv() {
            Ok(out) => return out,
            Err(oneshot::error::TryRecvError::Closed) => return lost(),
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        let batch = {
            let mut queue = self.lock_queue();
            let take = queue.len().min(self.max_batch);
            queue.drain(..take).collect::<Vec<_>>()
        };
        let (requests, replies): (Vec<Req>, Vec<oneshot::Sender<Out>>) = batch.into_iter().unzip();
        let written = write(requests);
        tokio::spawn(async move {
            let outs = written.await;
            for (reply, out) in replies.into_iter().zip(outs) {
                let _ = reply.send(out);
            }
            drop(writing);
        });
        answer.await.unwrap_or_else(|_| lost())
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<(Req, oneshot::Sender<Out>)>> {
        // The queue holds plain data; a panic elsewhere cannot leave it half-changed.
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The answers of a batch whose shared transaction failed, so none of its requests wrote
/// anything: the request at `at` (the one that failed it, if any) gets `error` itself, the
/// others a database error that describes it (`sqlx::Error` cannot be cloned).
pub fn fail_all<T, E>(error: E, at: usize, count: usize) -> Vec<Result<T, E>>
where
    E: std::error::Error + From<sqlx::Error>,
{
    // The cause, where the error wraps one (a database error's own text), else the error.
    let cause = std::error::Error::source(&error).map_or_else(|| error.to_string(), ToString::to_string);
    let mut answers: Vec<Result<T, E>> = (0..count)
        .map(|_| Err(E::from(sqlx::Error::Protocol(format!("a shared transaction failed: {cause}")))))
        .collect();
    if let Some(answer) = answers.get_mut(at) {
        *answer = Err(error);
    }
    answers
}

/// The answers of an all-or-nothing batch: each request's value once `written` committed, else
/// the failure for every request ([`fail_all`]).
pub fn all_or_none<T, E>(written: Result<Vec<T>, E>, count: usize) -> Vec<Result<T, E>>
where
    E: std::error::Error + From<sqlx::Error>,
{
    match written {
        Ok(values) => values.into_iter().map(Ok).collect(),
        Err(error) => fail_all(error, 0, count),
    }
}

/// The answer of a request whose batch task died before answering (a panic): a database error,
/// so the caller retries. Pass it as [`GroupCommit::submit`]'s `lost`.
pub fn interrupted<T, E: From<sqlx::Error>>() -> Result<T, E> {
    Err(E::from(sqlx::Error::Protocol("the write was interrupted; retry it".into())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn callers_arriving_during_a_write_share_the_next_one_and_each_gets_its_own_answer() {
        let group: Arc<GroupCommit<u32, u32>> = Arc::new(GroupCommit::new(100));
        let batches = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        let (release_first, first_released) = tokio::sync::watch::channel(false);
        let write = |batches: Arc<Mutex<Vec<Vec<u32>>>>, mut gate: tokio::sync::watch::Receiver<bool>| {
            move |requests: Vec<u32>| async move {
                let _ = gate.wait_for(|open| *open).await;
                batches.lock().unwrap().push(requests.clone());
                requests.into_iter().map(|r| r * 10).collect::<Vec<u32>>()
            }
        };
        let first = {
            let (group, batches, gate) = (group.clone(), batches.clone(), first_released.clone());
            tokio::spawn(async move { group.submit(1, write(batches, gate), || 0).await })
        };
        // The first batch is being written (held at the gate) before the others arrive.
        while group.writing.try_lock().is_ok() {
            tokio::task::yield_now().await;
        }
        let mut later = Vec::new();
        for n in 2..=5 {
            let (group, batches, gate) = (group.clone(), batches.clone(), first_released.clone());
            later.push(tokio::spawn(async move { group.submit(n, write(batches, gate), || 0).await }));
        }
        while group.lock_queue().len() < 4 {
            tokio::task::yield_now().await;
        }
        release_first.send(true).expect("gate");
        assert_eq!(first.await.expect("first"), 10);
        for (n, task) in (2..=5).zip(later) {
            assert_eq!(task.await.expect("later"), n * 10);
        }
        assert_eq!(*batches.lock().unwrap(), vec![vec![1], vec![2, 3, 4, 5]]);
    }

    #[test]
    fn a_failed_batch_gives_its_error_to_the_request_at_fault_and_a_description_to_the_others() {
        let answers: Vec<Result<(), sqlx::Error>> = fail_all(sqlx::Error::RowNotFound, 1, 3);
        assert!(matches!(answers[1], Err(sqlx::Error::RowNotFound)));
        for other in [&answers[0], &answers[2]] {
            let Err(sqlx::Error::Protocol(text)) = other else { panic!("{other:?}") };
            assert!(text.starts_with("a shared transaction failed: ") && text.contains("no rows"), "{text}");
        }
        let written: Result<Vec<u8>, sqlx::Error> = Ok(vec![1, 2]);
        assert!(matches!(all_or_none(written, 2).as_slice(), [Ok(1), Ok(2)]));
        assert!(matches!(all_or_none::<u8, _>(Err(sqlx::Error::RowNotFound), 2).as_slice(), [Err(_), Err(_)]));
        assert!(matches!(interrupted::<(), sqlx::Error>(), Err(sqlx::Error::Protocol(_))));
    }

    #[tokio::test]
    async fn a_batch_is_split_at_its_limit_and_a_dead_batch_answers_lost() {
        let group: Arc<GroupCommit<u32, u32>> = Arc::new(GroupCommit::new(2));
        let writes = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for n in 0..5 {
            let (group, writes) = (group.clone(), writes.clone());
            tasks.push(tokio::spawn(async move {
                group
                    .submit(
                        n,
                        move |requests: Vec<u32>| async move {
                            assert!(requests.len() <= 2);
                            writes.fetch_add(1, Ordering::SeqCst);
                            requests
                        },
                        || u32::MAX,
                    )
                    .await
            }));
        }
        for (n, task) in (0..5).zip(tasks) {
            assert_eq!(task.await.expect("task"), n);
        }
        assert!(writes.load(Ordering::SeqCst) >= 3, "five requests in batches of at most two");
        let panicking = group.submit(9, |_: Vec<u32>| async { panic!("the write panicked") }, || u32::MAX).await;
        assert_eq!(panicking, u32::MAX);
        assert_eq!(group.submit(7, |r: Vec<u32>| async move { r }, || u32::MAX).await, 7, "still usable");
    }
}
