//! The fake provider's transcript through the `TranscriptStore` trait.

use cowork_cloud::database::Database;
use cowork_providers::ProviderId;
use cowork_providers::fake::{TranscriptEntry, TranscriptStore};

use super::*;

fn entry(delivery_id: &str, chat_id: &str, text: &str) -> TranscriptEntry {
    TranscriptEntry {
        delivery_id: delivery_id.to_owned(),
        operation: "send".into(),
        chat_id: chat_id.to_owned(),
        thread_id: None,
        message_id: format!("msg-{delivery_id}"),
        text: text.to_owned(),
        buttons: Vec::new(),
        recorded_at_ms: 0,
    }
}

fn ids(entries: &[TranscriptEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.delivery_id.as_str()).collect()
}

async fn transcript_is_idempotent_and_bounded(db: Database) {
    let s = store(db);
    let p = provider();
    for n in 1..=5 {
        s.record(&p, entry(&format!("d{n}"), "c1", "hi"), 3).await.unwrap();
    }
    assert_eq!(ids(&s.read(&p, None, 10).await.unwrap()), vec!["d3", "d4", "d5"]);
    let original = s.read(&p, None, 1).await.unwrap().remove(0);
    let mut resend = entry("d5", "c1", "changed");
    resend.message_id = "other".into();
    let stored = s.record(&p, resend, 3).await.unwrap();
    assert_eq!(stored, original, "a known delivery id returns the original");
    assert_eq!(s.read(&p, None, 10).await.unwrap().len(), 3);
}

async fn recorded_entry_round_trips(db: Database) {
    let s = store(db);
    let mut sent = entry("d1", "c1", "pick one");
    sent.thread_id = Some("t1".into());
    sent.buttons = buttons();
    let stored = s.record(&provider(), sent.clone(), 10).await.unwrap();
    assert!(stored.recorded_at_ms > 0, "stamped by the store");
    assert_eq!(TranscriptEntry { recorded_at_ms: 0, ..stored.clone() }, sent);
    assert_eq!(s.read(&provider(), None, 10).await.unwrap(), vec![stored]);
}

async fn transcript_reads_newest_oldest_first_by_chat(db: Database) {
    let s = store(db);
    let p = provider();
    for (id, chat) in [("d1", "c1"), ("d2", "c2"), ("d3", "c1"), ("d4", "c1")] {
        s.record(&p, entry(id, chat, "x"), 100).await.unwrap();
    }
    assert_eq!(ids(&s.read(&p, None, 2).await.unwrap()), vec!["d3", "d4"]);
    assert_eq!(ids(&s.read(&p, Some("c1"), 10).await.unwrap()), vec!["d1", "d3", "d4"]);
    assert_eq!(ids(&s.read(&p, Some("c2"), 10).await.unwrap()), vec!["d2"]);
    assert!(s.read(&p, Some("c3"), 10).await.unwrap().is_empty());
    assert!(s.read(&p, None, 0).await.unwrap().is_empty());
}

async fn transcripts_of_providers_are_separate(db: Database) {
    let s = store(db);
    let (a, b) = (ProviderId::new("fake-a"), ProviderId::new("fake-b"));
    s.record(&a, entry("d1", "c1", "for a"), 10).await.unwrap();
    let stored = s.record(&b, entry("d1", "c1", "for b"), 1).await.unwrap();
    assert_eq!(stored.text, "for b", "the same delivery id on another provider is new");
    s.record(&b, entry("d2", "c1", "for b"), 1).await.unwrap();
    assert_eq!(ids(&s.read(&a, None, 10).await.unwrap()), vec!["d1"], "b's bound leaves a alone");
    assert_eq!(ids(&s.read(&b, None, 10).await.unwrap()), vec!["d2"]);
}

cowork_cloud::backend_tests!(
    transcript_is_idempotent_and_bounded,
    recorded_entry_round_trips,
    transcript_reads_newest_oldest_first_by_chat,
    transcripts_of_providers_are_separate,
);
