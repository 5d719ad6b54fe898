//! Error classification: an unreachable database is "unavailable", not a bug.

use cowork_cloud::database::Database;

use super::*;

async fn closed_database_is_unavailable(db: Database) {
    let s = store(db.clone());
    db.close().await;
    let error = s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
    let error = s.find_interaction("abc").await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
}

cowork_cloud::backend_tests!(closed_database_is_unavailable);
