//! The report of `check`, `doctor` and `smoke` in both binaries: named checks, each passed,
//! warned, failed or skipped with a one-line detail, printed for people or as JSON, every line
//! through the redactor; the exit code is 1 when any check failed.

use std::fmt::Write as _;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::redact::Redactor;

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It holds.
    Pass,
    /// It holds, with something worth knowing.
    Warn,
    /// It does not hold.
    Fail,
    /// It does not apply here, or cannot be tried.
    Skip,
}

impl Outcome {
    /// The ANSI colour of the word on a terminal.
    fn colour(self) -> &'static str {
        match self {
            Self::Pass => "32",
            Self::Warn => "33",
            Self::Fail => "1;31",
            Self::Skip => "2",
        }
    }

    /// The word printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::Skip => "skip",
        }
    }
}

/// One check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// How it came out.
    pub outcome: Outcome,
    /// Why, in one line.
    pub detail: String,
}

/// A titled list of checks.
#[derive(Clone, Debug)]
pub struct Report {
    title: String,
    checks: Vec<Check>,
}

impl Report {
    /// An empty report.
    pub fn new(title: &str) -> Self {
        Self { title: title.to_owned(), checks: Vec::new() }
    }

    /// Adds a check.
    pub fn add(&mut self, name: &str, outcome: Outcome, detail: impl Into<String>) {
        self.checks.push(Check { name: name.to_owned(), outcome, detail: detail.into() });
    }

    /// Adds a passed check.
    pub fn pass(&mut self, name: &str, detail: impl Into<String>) {
        self.add(name, Outcome::Pass, detail);
    }

    /// Adds a warning.
    pub fn warn(&mut self, name: &str, detail: impl Into<String>) {
        self.add(name, Outcome::Warn, detail);
    }

    /// Adds a failed check.
    pub fn fail(&mut self, name: &str, detail: impl Into<String>) {
        self.add(name, Outcome::Fail, detail);
    }

    /// Adds a skipped check.
    pub fn skip(&mut self, name: &str, detail: impl Into<String>) {
        self.add(name, Outcome::Skip, detail);
    }

    /// The checks so far.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// Whether any check failed.
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.outcome == Outcome::Fail)
    }

    /// The report for people: one line per check, then a summary.
    pub fn text(&self, redactor: &Redactor) -> String {
        self.render(redactor, false)
    }

    /// [`Self::text`], the outcomes coloured when `colour` (a terminal that did not ask for
    /// `NO_COLOR`).
    fn render(&self, redactor: &Redactor, colour: bool) -> String {
        let mut out = format!("{}\n", self.title);
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for check in &self.checks {
            let detail = redactor.redact(&check.detail);
            let word = check.outcome.as_str();
            let word =
                if colour { format!("\x1b[{}m{word:<4}\x1b[0m", check.outcome.colour()) } else { format!("{word:<4}") };
            let _ = writeln!(out, "  {word}  {:<width$}  {detail}", check.name);
        }
        let count = |o: Outcome| self.checks.iter().filter(|c| c.outcome == o).count();
        let _ = write!(
            out,
            "{} passed, {} warned, {} failed, {} skipped",
            count(Outcome::Pass),
            count(Outcome::Warn),
            count(Outcome::Fail),
            count(Outcome::Skip)
        );
        out
    }

    /// The report as JSON: `{ok, title, checks: [{name, outcome, detail}]}`.
    pub fn json(&self, redactor: &Redactor) -> Value {
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|c| json!({"name": c.name, "outcome": c.outcome.as_str(), "detail": redactor.redact(&c.detail)}))
            .collect();
        json!({"ok": !self.failed(), "title": self.title, "checks": checks})
    }

    /// Prints the report on stdout and gives the exit code (1 when a check failed).
    pub fn print(&self, as_json: bool, redactor: &Redactor) -> ExitCode {
        use std::io::IsTerminal;
        if as_json {
            println!("{}", self.json(redactor));
        } else {
            let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            println!("{}", self.render(redactor, colour));
        }
        if self.failed() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn reports_redact_count_and_fail_on_any_failure() {
        let secret = Secret::new("s3cr3t-token-value-0123456789".to_owned());
        let redactor = Redactor::new([&secret]);
        let mut report = Report::new("doctor");
        report.pass("database", "Postgres answers");
        report.warn("tls", "plain http on loopback");
        report.skip("slack", "no Slack provider");
        assert!(!report.failed());
        report.fail("cloud", "401 for token s3cr3t-token-value-0123456789");
        assert!(report.failed());
        let text = report.text(&redactor);
        assert!(text.ends_with("1 passed, 1 warned, 1 failed, 1 skipped"), "{text}");
        assert!(!text.contains("s3cr3t-token-value"), "{text}");
        let json = report.json(&redactor);
        assert_eq!(json["ok"], false);
        assert_eq!(json["checks"][3]["outcome"], "fail");
        assert!(!json.to_string().contains("s3cr3t-token-value"));
        let coloured = report.render(&redactor, true);
        assert!(coloured.contains("\x1b[1;31mfail\x1b[0m  cloud"), "{coloured}");
        assert!(!text.contains('\x1b'), "plain when not on a terminal");
    }
}
