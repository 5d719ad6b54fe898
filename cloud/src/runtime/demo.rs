//! The demo runtime: a scripted, model-free agent for trying the product end to end. Its reply
//! is deterministic (it echoes the prompt) and streamed as `assistant.message` snapshots, each
//! carrying the full text so far under the stable message id `<command id>:assistant`, paced by
//! `delta_interval` (`OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS` in the gateway). Every event has
//! a stable id (`<command id>:delta:<n>`, ...), so a run repeated after a crash appends only
//! what is missing and ends with the same final snapshot.
//!
//! Cue words in a prompt (case-insensitive, anywhere in the text; the first match wins):
//! - `fail`: the run fails; the session shows "The demo runtime failed on purpose." and the
//!   command is not retried.
//! - `approve`, `approval` or `deploy`: after the reply it requests permission for the tool
//!   `demo.deploy` and the turn waits for the answer (no `session.idle` until then). A
//!   `permission.respond` command resolves it and replies "Approved: ..." or "Denied: ...".
//! - `question` or `choose`: after the reply it asks which colour to use (Red, Green, Blue). A
//!   `question.reply` answers "You chose X."; a `question.reject` acknowledges the skip.
//! - the words `file` or `report`: after the reply the tool `demo.report` runs (`tool.call`
//!   running, then complete) and produces a small Markdown file (`artifact.created`, inline).
//!
//! An approved deployment also shows its tool running and completing.
//!
//! A prompt without cues ends its turn with `session.idle`.
//!
//! An abort stops the stream between two sentences: the text so far becomes the message's last,
//! complete snapshot (`<command id>:delta:stopped`) and the turn ends with `session.idle`.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use cowork_cloud_client::{CommandBody, EventBody, QuestionOption, QuestionSpec, ToolStatus};

use super::{AgentRuntime, CommandContext, EventSink, RuntimeError};

/// The user-safe message of a run failed by the `fail` cue.
pub const DEMO_FAILURE_MESSAGE: &str = "The demo runtime failed on purpose.";

/// The longest part of a prompt echoed back, in characters.
const ECHO_CHARS: usize = 160;

/// The scripted demo runtime.
#[derive(Clone, Debug)]
pub struct DemoRuntime {
    delta_interval: Duration,
}

impl DemoRuntime {
    /// A demo runtime pausing `delta_interval` between two streamed snapshots.
    pub fn new(delta_interval: Duration) -> Self {
        Self { delta_interval }
    }

    /// The full text of the reply to `prompt` (its last snapshot), so tests and docs can expect
    /// it exactly. A prompt with the `fail` cue gets no reply.
    pub fn final_reply(prompt: &str) -> String {
        prompt_reply(prompt, Cue::of(prompt)).join(" ")
    }
}

impl Default for DemoRuntime {
    fn default() -> Self {
        Self::new(Duration::from_millis(120))
    }
}

/// The cue a prompt carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cue {
    Fail,
    Approval,
    Question,
    File,
    None,
}

impl Cue {
    fn of(text: &str) -> Self {
        let text = text.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|word| text.contains(word));
        if has(&["fail"]) {
            Self::Fail
        } else if has(&["approve", "approval", "deploy"]) {
            Self::Approval
        } else if has(&["question", "choose"]) {
            Self::Question
        } else if text.split(|c: char| !c.is_alphanumeric()).any(|word| word == "file" || word == "report") {
            Self::File
        } else {
            Self::None
        }
    }
}

/// The reply to a prompt, one sentence per streamed snapshot.
fn prompt_reply(text: &str, cue: Cue) -> Vec<String> {
    let words = text.split_whitespace().count();
    let plural = if words == 1 { "" } else { "s" };
    let ending = match cue {
        Cue::Approval => "Before I deploy anything, I need your approval.",
        Cue::Question => "Before I go on, I have a question for you.",
        Cue::File => "I am attaching a short report as a file.",
        Cue::Fail | Cue::None => "That is all for this turn.",
    };
    vec![
        format!("You said: \"{}\".", echo(text)),
        "I am the demo runtime, so this reply is scripted rather than written by a model.".into(),
        "I stream it one sentence at a time, and every update carries the full text so far.".into(),
        "That lets your channel edit a single message instead of posting a new one per step.".into(),
        format!("Your message had {words} word{plural}."),
        ending.into(),
    ]
}

/// The prompt on one line, cut to [`ECHO_CHARS`] characters.
fn echo(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= ECHO_CHARS {
        flat
    } else {
        let cut: String = flat.chars().take(ECHO_CHARS).collect();
        format!("{cut}...")
    }
}

/// How a stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Streamed {
    /// Every sentence was streamed.
    Finished,
    /// An abort stopped it; the text so far was marked complete.
    Stopped,
}

impl DemoRuntime {
    /// Streams `sentences` as snapshots of the message `<command id>:assistant`.
    async fn stream(
        &self,
        command: &CommandContext,
        sink: &EventSink,
        sentences: &[String],
    ) -> Result<Streamed, RuntimeError> {
        let message_id = format!("{}:assistant", command.command_id);
        let mut content = String::new();
        for (index, sentence) in sentences.iter().enumerate() {
            if command.cancel.is_cancelled() {
                return self.stop(command, sink, &message_id, content).await;
            }
            if !content.is_empty() {
                content.push(' ');
            }
            content.push_str(sentence);
            let last = index + 1 == sentences.len();
            let body = EventBody::AssistantMessage {
                message_id: message_id.clone(),
                content: content.clone(),
                complete: last,
            };
            let event_id = format!("{}:delta:{}", command.command_id, index + 1);
            let appended = sink.append(&event_id, &body).await?;
            // A snapshot already stored by an earlier attempt is skipped without pausing, so a
            // re-run catches up at once and then streams the rest at the usual pace.
            if appended.created && !last {
                tokio::select! {
                    () = tokio::time::sleep(self.delta_interval) => {}
                    () = command.cancel.cancelled() => return self.stop(command, sink, &message_id, content).await,
                }
            }
        }
        Ok(Streamed::Finished)
    }

    /// Ends a stopped stream: the text so far as the last, complete snapshot, then idle.
    async fn stop(
        &self,
        command: &CommandContext,
        sink: &EventSink,
        message_id: &str,
        content: String,
    ) -> Result<Streamed, RuntimeError> {
        if !content.is_empty() {
            let body = EventBody::AssistantMessage { message_id: message_id.to_owned(), content, complete: true };
            self.append(command, sink, "delta:stopped", body).await?;
        }
        self.idle(command, sink).await?;
        Ok(Streamed::Stopped)
    }

    async fn append(
        &self,
        command: &CommandContext,
        sink: &EventSink,
        suffix: &str,
        body: EventBody,
    ) -> Result<(), RuntimeError> {
        sink.append(&format!("{}:{suffix}", command.command_id), &body).await?;
        Ok(())
    }

    async fn idle(&self, command: &CommandContext, sink: &EventSink) -> Result<(), RuntimeError> {
        self.append(command, sink, "idle", EventBody::SessionIdle {}).await
    }

    /// Streams a reply that ends the turn (a stopped stream has ended it already).
    async fn reply(
        &self,
        command: &CommandContext,
        sink: &EventSink,
        sentences: &[String],
    ) -> Result<(), RuntimeError> {
        match self.stream(command, sink, sentences).await? {
            Streamed::Finished => self.idle(command, sink).await,
            Streamed::Stopped => Ok(()),
        }
    }

    async fn prompt(&self, command: &CommandContext, sink: &EventSink, text: &str) -> Result<(), RuntimeError> {
        let submitted = EventBody::PromptSubmitted {
            command_id: command.command_id.to_string(),
            message_id: format!("{}:user", command.command_id),
            text: text.to_owned(),
        };
        self.append(command, sink, "prompt", submitted).await?;
        let cue = Cue::of(text);
        if cue == Cue::Fail {
            return Err(RuntimeError::Failed {
                message: DEMO_FAILURE_MESSAGE.to_owned(),
                detail: "the prompt asked the demo runtime to fail".to_owned(),
            });
        }
        if self.stream(command, sink, &prompt_reply(text, cue)).await? == Streamed::Stopped {
            return Ok(());
        }
        match cue {
            Cue::Approval => {
                let requested = EventBody::PermissionRequested {
                    permission_id: format!("{}:permission", command.command_id),
                    tool: "demo.deploy".to_owned(),
                    description: "Deploy the demo build (pretend: nothing is changed).".to_owned(),
                };
                self.append(command, sink, "permission", requested).await
            }
            Cue::Question => {
                let options = ["Red", "Green", "Blue"]
                    .into_iter()
                    .map(|label| QuestionOption { label: label.into(), description: String::new() })
                    .collect();
                let asked = EventBody::QuestionAsked {
                    request_id: format!("{}:question", command.command_id),
                    questions: vec![QuestionSpec {
                        header: "Colour".to_owned(),
                        question: "Which colour should the demo use?".to_owned(),
                        options,
                        multiple: false,
                    }],
                };
                self.append(command, sink, "question", asked).await
            }
            Cue::File => {
                self.tool(command, sink, "demo.report", ToolStatus::Running).await?;
                let report = format!("# Demo report\n\nYou asked: {}\n", echo(text));
                let artifact = EventBody::ArtifactCreated {
                    artifact_id: format!("{}:report", command.command_id),
                    filename: "demo-report.md".to_owned(),
                    mime_type: "text/markdown".to_owned(),
                    size_bytes: report.len() as u64,
                    data_base64: Some(base64::engine::general_purpose::STANDARD.encode(report)),
                };
                self.append(command, sink, "artifact", artifact).await?;
                self.tool(command, sink, "demo.report", ToolStatus::Complete).await?;
                self.idle(command, sink).await
            }
            Cue::Fail | Cue::None => self.idle(command, sink).await,
        }
    }

    /// A status update of the turn's tool call (one call per command).
    async fn tool(
        &self,
        command: &CommandContext,
        sink: &EventSink,
        name: &str,
        status: ToolStatus,
    ) -> Result<(), RuntimeError> {
        let suffix = match status {
            ToolStatus::Running => "tool:running",
            ToolStatus::Complete => "tool:complete",
            ToolStatus::Error => "tool:error",
        };
        let body = EventBody::ToolCall {
            id: format!("{}:tool", command.command_id),
            name: name.to_owned(),
            status,
            error: None,
        };
        self.append(command, sink, suffix, body).await
    }
}

#[async_trait]
impl AgentRuntime for DemoRuntime {
    async fn run(&self, command: &CommandContext, sink: &EventSink) -> Result<(), RuntimeError> {
        match &command.body {
            CommandBody::Prompt { text, .. } => self.prompt(command, sink, text).await,
            CommandBody::PermissionRespond { permission_id, allowed } => {
                let resolved =
                    EventBody::PermissionResolved { permission_id: permission_id.clone(), allowed: *allowed };
                self.append(command, sink, "resolved", resolved).await?;
                if *allowed {
                    self.tool(command, sink, "demo.deploy", ToolStatus::Running).await?;
                    self.tool(command, sink, "demo.deploy", ToolStatus::Complete).await?;
                }
                let reply = if *allowed {
                    ["Approved: the demo deployment ran.", "Nothing real was changed."]
                } else {
                    ["Denied: the demo deployment was cancelled.", "Nothing was changed."]
                };
                self.reply(command, sink, &reply.map(String::from)).await
            }
            CommandBody::QuestionReply { request_id, answers } => {
                let resolved = EventBody::QuestionResolved {
                    request_id: request_id.clone(),
                    answers: answers.clone(),
                    rejected: false,
                };
                self.append(command, sink, "resolved", resolved).await?;
                let choice = if answers.is_empty() { "nothing".to_owned() } else { answers.join(", ") };
                self.reply(command, sink, &[format!("You chose {choice}.")]).await
            }
            CommandBody::QuestionReject { request_id } => {
                let resolved =
                    EventBody::QuestionResolved { request_id: request_id.clone(), answers: Vec::new(), rejected: true };
                self.append(command, sink, "resolved", resolved).await?;
                let reply = ["You skipped the question.", "The demo goes on without a colour."];
                self.reply(command, sink, &reply.map(String::from)).await
            }
            CommandBody::Abort => Err(super::abort_is_not_a_turn()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues_are_case_insensitive_and_fail_wins() {
        assert_eq!(Cue::of("Please APPROVE this"), Cue::Approval);
        assert_eq!(Cue::of("deploy and fail"), Cue::Fail);
        assert_eq!(Cue::of("I have a Question"), Cue::Question);
        assert_eq!(Cue::of("hello"), Cue::None);
        assert_eq!(Cue::of("send me the Report."), Cue::File);
        assert_eq!(Cue::of("my profile"), Cue::None, "whole words only");
    }

    #[test]
    fn replies_echo_the_prompt_in_at_least_five_sentences() {
        let reply = prompt_reply("hello   there", Cue::None);
        assert!(reply.len() >= 5);
        assert!(reply[0].contains("hello there"));
        assert_eq!(DemoRuntime::final_reply("hello   there"), reply.join(" "));
    }
}
