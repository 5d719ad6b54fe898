//! RFC 3339 timestamps, as the cloud's API writes them, read back as unix milliseconds.

/// Parses an RFC 3339 timestamp (`2026-12-03T12:00:00Z`, any offset) into unix milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let at = time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}
