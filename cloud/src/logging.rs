//! JSON logs whose every line passes through the redactor before it is written: whatever a log
//! call captured (an upstream error body, a URL, a header), a configured secret, token or
//! signature never reaches the log sink. `main` installs it on stderr; tests install the same
//! subscriber on a buffer.

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::redact::Redactor;

/// Wraps a [`MakeWriter`] so each formatted log line is redacted before it is written.
pub struct RedactingMakeWriter<M> {
    inner: M,
    redactor: Redactor,
}

impl<M> RedactingMakeWriter<M> {
    /// Redacts what `inner` would write.
    pub fn new(inner: M, redactor: Redactor) -> Self {
        Self { inner, redactor }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = RedactingWriter<'a, M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter { inner: self.inner.make_writer(), redactor: &self.redactor, line: Vec::new() }
    }
}

/// Collects one log event and writes it, redacted, when dropped (the formatter makes one writer
/// per event).
pub struct RedactingWriter<'a, W: Write> {
    inner: W,
    redactor: &'a Redactor,
    line: Vec<u8>,
}

impl<W: Write> Write for RedactingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for RedactingWriter<'_, W> {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let redacted = self.redactor.redact(&String::from_utf8_lossy(&self.line));
        // A log line that cannot be written has nowhere else to go.
        let _ = self.inner.write_all(redacted.as_bytes());
        let _ = self.inner.flush();
    }
}

/// The service's subscriber: JSON lines filtered by `level` (an `EnvFilter` directive; `info`
/// when it does not parse), redacted, written to `writer`.
pub fn json_subscriber<W>(level: &str, redactor: Redactor, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(RedactingMakeWriter::new(writer, redactor))
        .finish()
}

/// Installs [`json_subscriber`] on stderr as the process's subscriber (once, at startup).
pub fn install(level: &str, redactor: Redactor) {
    let subscriber = json_subscriber(level, redactor, std::io::stderr);
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        eprintln!("a log subscriber was already installed");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::config::Secret;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn log_lines_are_redacted_before_they_are_written() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let redactor = Redactor::new(&[Secret::new("configured-s3cret".into())]);
        let subscriber = json_subscriber("debug", redactor, move || sink.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(error = "upstream said token=abc123 and configured-s3cret", "delivery failed");
            tracing::info!(url = "https://bot:pw@example.com/hook", "calling");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        for secret in ["abc123", "configured-s3cret", "bot:pw"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains("delivery failed") && text.contains("token=***"), "{text}");
    }
}
