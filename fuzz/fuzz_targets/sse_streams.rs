//! Server-sent event parsing: the cloud client's `SseParser` (`cloud-client/src/http/follow.rs`,
//! the gateway following a session's event stream from the cloud) and the cloud's own
//! `SseParser` (`cloud/src/runtime/sse.rs`, the OpenAI-compatible and OpenCode upstream streams;
//! compiled here from its source file, as the cloud crate keeps the module private).
//!
//! Input: one byte `k` (the low four bits: how many cuts), `k` bytes of gaps between the cuts,
//! then the stream.
//!
//! Invariants:
//! - arbitrary bytes in arbitrary chunkings never panic;
//! - the same bytes give the same events (and the same bytes left pending) whether fed whole, one
//!   byte at a time, or cut where the input says;
//! - client events have data, no carriage return in any field and no line break in `id` or
//!   `event`; what is left pending never holds a complete event (a blank line).
#![no_main]

use cowork_cloud_client::fuzzing::{Frame, SseParser};
use libfuzzer_sys::fuzz_target;

#[path = "../../cloud/src/runtime/sse.rs"]
mod cloud_sse;

/// Client events and the pending byte count after feeding `chunks`.
fn client(chunks: &[&[u8]]) -> (Vec<Frame>, usize) {
    let mut parser = SseParser::default();
    let frames = chunks.iter().flat_map(|chunk| parser.push(chunk)).collect();
    (frames, parser.pending())
}

/// Cloud payloads, including the one completed by the end of the stream.
fn cloud(chunks: &[&[u8]]) -> Vec<String> {
    let mut parser = cloud_sse::SseParser::default();
    let mut events: Vec<String> = chunks.iter().flat_map(|chunk| parser.feed(chunk)).collect();
    events.extend(parser.finish());
    events
}

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else { return };
    let k = usize::from(k & 15).min(rest.len());
    let (gaps, stream) = rest.split_at(k);
    let mut cut_chunks = Vec::with_capacity(k + 1);
    let mut remaining = stream;
    for &gap in gaps {
        let (head, tail) = remaining.split_at(usize::from(gap).min(remaining.len()));
        cut_chunks.push(head);
        remaining = tail;
    }
    cut_chunks.push(remaining);
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();

    let whole = client(&[stream]);
    assert_eq!(client(&cut_chunks), whole, "the client's events depend on the chunking");
    assert_eq!(client(&bytes), whole, "the client's events depend on the chunking (bytes)");
    for frame in &whole.0 {
        assert!(!frame.data.is_empty(), "an event without data");
        assert!(!frame.data.contains('\r') && !frame.event.contains(['\r', '\n']), "{frame:?}");
        assert!(!frame.id.as_deref().is_some_and(|id| id.contains(['\r', '\n'])), "{frame:?}");
    }
    let without_cr: Vec<u8> = stream.iter().copied().filter(|&b| b != b'\r').collect();
    let pending = &without_cr[without_cr.len() - whole.1..];
    assert!(!pending.windows(2).any(|w| w == b"\n\n"), "a complete event left pending");

    let whole = cloud(&[stream]);
    assert_eq!(cloud(&cut_chunks), whole, "the cloud's events depend on the chunking");
    assert_eq!(cloud(&bytes), whole, "the cloud's events depend on the chunking (bytes)");
});
