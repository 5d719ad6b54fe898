//! The W3C `traceparent` parser (`cloud-client/src/trace.rs` `TraceParent::parse`) and its
//! serde forms (strict `Deserialize`, and `trace::lenient` for stored rows).
//!
//! Invariants:
//! - an accepted value is exactly 55 characters of `00-<32 hex>-<16 hex>-<2 hex>`, lower-case,
//!   with non-zero trace and span ids, and parses again to itself;
//! - its ids and flags are the input's (trimmed) second, third and fourth fields: only a later
//!   version is rewritten (to `00`, its extra fields dropped), so a version-00 input is accepted
//!   only when it is, trimmed, already canonical;
//! - `trace_id`, `span_id` and `sampled` read back the parts; JSON round-trips through
//!   `Serialize`/`Deserialize`; `lenient` reads what `parse` accepts and drops the rest.
#![no_main]

use cowork_cloud_client::TraceParent;
use cowork_cloud_client::trace::lenient;
use cowork_fuzz::text;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

#[derive(Deserialize)]
struct Row {
    #[serde(default, deserialize_with = "lenient")]
    trace: Option<TraceParent>,
}

fn lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fuzz_target!(|data: &[u8]| {
    let input = text(data);
    let input = input.as_ref();
    let parsed = TraceParent::parse(input);
    let json = serde_json::to_string(input).expect("a JSON string");
    let row: Row = serde_json::from_str(&format!("{{\"trace\":{json}}}")).expect("lenient never fails on a string");
    assert_eq!(row.trace, parsed, "lenient disagrees with parse");
    assert_eq!(serde_json::from_str::<TraceParent>(&json).ok(), parsed, "Deserialize disagrees with parse");
    let Some(parent) = parsed else { return };
    let value = parent.as_str();
    assert_eq!(value.len(), 55, "{value:?}");
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "{value:?}");
    assert_eq!(parts[0], "00");
    assert!(lower_hex(parts[1], 32) && lower_hex(parts[2], 16) && lower_hex(parts[3], 2), "{value:?}");
    assert!(parts[1].bytes().any(|b| b != b'0') && parts[2].bytes().any(|b| b != b'0'), "zero id: {value:?}");
    assert_eq!(TraceParent::parse(value).as_ref(), Some(&parent), "does not re-parse to itself");
    assert_eq!(parent.to_string(), value);
    let fields: Vec<&str> = input.trim().split('-').collect();
    assert_eq!(&fields[1..4], &parts[1..4], "the ids and flags are the input's");
    if fields[0] == "00" {
        assert_eq!(input.trim(), value, "a version-00 value is accepted only as it is");
    }
    assert_eq!(parent.trace_id(), parts[1]);
    assert_eq!(parent.span_id(), parts[2]);
    assert_eq!(parent.sampled(), u8::from_str_radix(parts[3], 16).expect("hex") & 1 == 1);
    let serialized = serde_json::to_string(&parent).expect("serialize");
    assert_eq!(serde_json::from_str::<TraceParent>(&serialized).ok().as_ref(), Some(&parent));
});
