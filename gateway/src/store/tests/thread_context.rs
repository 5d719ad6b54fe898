//! Reply contexts: the latest one per thread wins, threads and bindings stay apart, and old
//! ones are pruned.

use cowork_cloud::database::Database;
use cowork_providers::BindingId;

use super::*;

async fn latest_reply_context_wins_per_thread(db: Database) {
    let s = store(db);
    let b = binding();
    assert_eq!(s.reply_context(&b, &thread("c1", "t1")).await.unwrap(), None);
    s.save_reply_context(&b, &thread("c1", "t1"), "first", T0).await.unwrap();
    s.save_reply_context(&b, &thread("c1", "t1"), "second", T0 + 1).await.unwrap();
    s.save_reply_context(&b, &thread("c1", "t2"), "other thread", T0 + 1).await.unwrap();
    s.save_reply_context(&BindingId::new("b2"), &thread("c1", "t1"), "other binding", T0 + 1).await.unwrap();
    assert_eq!(s.reply_context(&b, &thread("c1", "t1")).await.unwrap().as_deref(), Some("second"));
    assert_eq!(s.reply_context(&b, &thread("c1", "t2")).await.unwrap().as_deref(), Some("other thread"));
    assert_eq!(s.reply_context(&b, &thread("c2", "t1")).await.unwrap(), None);
}

async fn quiet_threads_lose_their_reply_context(db: Database) {
    let s = store(db);
    let b = binding();
    s.save_reply_context(&b, &thread("c1", "old"), "old", T0).await.unwrap();
    s.save_reply_context(&b, &thread("c1", "new"), "new", T0 + 100).await.unwrap();
    s.prune_finished(T0 + 50).await.unwrap();
    assert_eq!(s.reply_context(&b, &thread("c1", "old")).await.unwrap(), None);
    assert_eq!(s.reply_context(&b, &thread("c1", "new")).await.unwrap().as_deref(), Some("new"));
}

cowork_cloud::backend_tests!(latest_reply_context_wins_per_thread, quiet_threads_lose_their_reply_context);
