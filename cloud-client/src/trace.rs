//! The W3C trace context a message carries from process to process and across restarts: the
//! `traceparent` header on HTTP, and a column beside each durable row.

use serde::{Deserialize, Deserializer, Serialize};

/// The HTTP header that carries a [`TraceParent`].
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// A valid W3C `traceparent` value (`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`),
/// lower-case, with non-zero ids. Anything else from outside is dropped, never stored.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TraceParent(String);

impl TraceParent {
    /// Parses a header value; `None` when it is not a valid version-00 trace context.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let mut parts = value.split('-');
        let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex =
            |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let zero = |s: &str| s.bytes().all(|b| b == b'0');
        // Version 00 has exactly four fields; a later version may append more, which we ignore.
        let later_version = version != "00" && version != "ff";
        if !hex(version, 2) || version == "ff" || (!later_version && parts.next().is_some()) {
            return None;
        }
        if !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) || zero(trace) || zero(span) {
            return None;
        }
        Some(Self(format!("00-{trace}-{span}-{flags}")))
    }

    /// Builds one from its parts (lower-case hex ids, as an SDK renders them).
    pub fn from_parts(trace_id: &str, span_id: &str, sampled: bool) -> Option<Self> {
        Self::parse(&format!("00-{trace_id}-{span_id}-{}", if sampled { "01" } else { "00" }))
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 32-hex-digit trace id.
    pub fn trace_id(&self) -> &str {
        &self.0[3..35]
    }

    /// The 16-hex-digit id of the span that is the parent.
    pub fn span_id(&self) -> &str {
        &self.0[36..52]
    }

    /// Whether the parent was sampled.
    pub fn sampled(&self) -> bool {
        u8::from_str_radix(&self.0[53..55], 16).is_ok_and(|flags| flags & 1 == 1)
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored or received value that does not parse reads as no trace, not as an error: tracing
/// never makes a message fail.
impl<'de> Deserialize<'de> for TraceParent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).ok_or_else(|| serde::de::Error::custom("not a W3C traceparent"))
    }
}

/// Deserializes an optional trace context, reading an invalid one as none.
pub fn lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<TraceParent>, D::Error> {
    let raw = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(raw.as_ref().and_then(serde_json::Value::as_str).and_then(TraceParent::parse))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_header_parses_and_keeps_its_parts() {
        let parent = TraceParent::parse(GOOD).unwrap_or_else(|| panic!("valid"));
        assert_eq!(parent.as_str(), GOOD);
        assert_eq!(parent.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent.span_id(), "00f067aa0ba902b7");
        assert!(parent.sampled());
        let unsampled = TraceParent::from_parts(parent.trace_id(), parent.span_id(), false);
        assert_eq!(unsampled.map(|p| p.sampled()), Some(false));
    }

    #[test]
    fn malformed_and_zero_contexts_are_refused() {
        for bad in [
            "",
            "garbage",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01<script>",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_later_version_is_read_as_version_00() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        assert_eq!(TraceParent::parse(later).map(|p| p.to_string()), Some(GOOD.to_owned()));
    }

    #[test]
    fn lenient_reading_drops_what_does_not_parse() {
        #[derive(Deserialize)]
        struct Row {
            #[serde(default, deserialize_with = "lenient")]
            trace: Option<TraceParent>,
        }
        let read = |json: &str| serde_json::from_str::<Row>(json).ok().and_then(|row| row.trace);
        assert_eq!(read(&format!(r#"{{"trace":"{GOOD}"}}"#)).map(|p| p.to_string()), Some(GOOD.to_owned()));
        assert_eq!(read(r#"{"trace":"nope"}"#), None);
        assert_eq!(read(r#"{"trace":7}"#), None);
        assert_eq!(read("{}"), None);
    }
}
