//! `open-cowork-gateway chat`: talk to an agent from the terminal through a gateway's fake
//! provider. Each line is sent as a message; the reply is printed as it streams (a snapshot that
//! extends the text so far prints only what is new); buttons (approvals, questions) become
//! numbered choices, and typing a number clicks one. `/stop` stops the agent's turn (the gateway
//! reads it like any channel's), `/quit` leaves.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// How often the transcript is read while a reply streams.
const POLL: Duration = Duration::from_millis(100);

/// How long a reply may be quiet before the turn counts as done.
const QUIET: Duration = Duration::from_millis(1200);

/// How long to wait for the first sign of a reply.
const PATIENCE: Duration = Duration::from_secs(60);

/// One conversation with a gateway.
pub struct Chat {
    /// The gateway's base URL.
    pub url: String,
    /// The fake provider's id.
    pub provider: String,
    /// The chat id messages are sent in.
    pub chat_id: String,
}

/// What the terminal shows of one message.
#[derive(Clone, Debug, Default, PartialEq)]
struct Shown {
    text: String,
    buttons: Vec<(String, String)>,
}

impl Chat {
    /// Reads lines from `input` until it ends or `/quit`, writing the conversation to `out`.
    pub async fn run<R, W>(&self, input: R, out: &mut W, prompt: bool) -> anyhow::Result<()>
    where
        R: AsyncBufRead + Unpin,
        W: Write,
    {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build()?;
        writeln!(
            out,
            "Chatting with {} as chat {}. Type a message; /stop stops the agent's turn, /quit leaves.",
            self.url, self.chat_id
        )?;
        let mut shown = self.transcript(&http).await?;
        let mut choices: Vec<(String, String)> = Vec::new();
        let mut lines = input.lines();
        loop {
            if prompt {
                write!(out, "> ")?;
                out.flush()?;
            }
            let Some(line) = lines.next_line().await? else { break };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if matches!(line, "/quit" | "/exit") {
                break;
            }
            let choice = line.parse::<usize>().ok().and_then(|n| n.checked_sub(1)).and_then(|i| choices.get(i));
            let body = match choice {
                Some((label, handle)) => {
                    writeln!(out, "[{label}]")?;
                    let id = uuid::Uuid::new_v4().simple().to_string();
                    json!({"id": id, "chatId": self.chat_id, "interaction": {"id": id, "token": handle}})
                }
                None => json!({"id": uuid::Uuid::new_v4().simple().to_string(), "chatId": self.chat_id, "text": line}),
            };
            self.send(&http, &body).await?;
            choices = self.follow(&http, &mut shown, out).await?;
            for (n, (label, _)) in choices.iter().enumerate() {
                writeln!(out, "  {}) {label}", n + 1)?;
            }
            if !choices.is_empty() {
                writeln!(out, "Type a number to choose.")?;
            }
        }
        Ok(())
    }

    async fn send(&self, http: &reqwest::Client, body: &Value) -> anyhow::Result<()> {
        let url = format!("{}/webhooks/{}", self.url, self.provider);
        let response = http.post(&url).json(body).send().await.with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            anyhow::bail!("the gateway refused the message ({status}): {text}");
        }
        Ok(())
    }

    /// The chat's messages by id, as the fake provider's transcript has them.
    async fn transcript(&self, http: &reqwest::Client) -> anyhow::Result<Vec<(String, Shown)>> {
        let url = format!("{}/fake/{}/transcript?chatId={}", self.url, self.provider, self.chat_id);
        let response = http.get(&url).send().await.with_context(|| format!("cannot reach {url}"))?;
        anyhow::ensure!(response.status().is_success(), "{url} answered {}", response.status());
        let body: Value = response.json().await?;
        Ok(body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                let buttons = m["buttons"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|row| row.as_array().into_iter().flatten())
                    .filter_map(|b| Some((b["label"].as_str()?.to_owned(), b["handle"].as_str()?.to_owned())))
                    .collect();
                let id = m["messageId"].as_str().unwrap_or_default().to_owned();
                (id, Shown { text: m["text"].as_str().unwrap_or_default().to_owned(), buttons })
            })
            .collect())
    }

    /// Prints what changes in the chat until the reply is quiet or asks for a choice; returns
    /// the choices offered.
    async fn follow<W: Write>(
        &self,
        http: &reqwest::Client,
        shown: &mut Vec<(String, Shown)>,
        out: &mut W,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let started = Instant::now();
        let mut last_change: Option<Instant> = None;
        let mut mid_line = false;
        loop {
            tokio::time::sleep(POLL).await;
            let now = self.transcript(http).await?;
            let before: HashMap<&str, &Shown> = shown.iter().map(|(id, s)| (id.as_str(), s)).collect();
            let mut offered = Vec::new();
            for (id, message) in &now {
                let previous = before.get(id.as_str()).copied();
                if previous == Some(message) {
                    continue;
                }
                last_change = Some(Instant::now());
                match previous {
                    // The same message grew: only what is new.
                    Some(old) if message.text.starts_with(&old.text) => {
                        let added = &message.text[old.text.len()..];
                        write!(out, "{}", if mid_line { added } else { added.trim_start() })?;
                    }
                    _ => {
                        if mid_line {
                            writeln!(out)?;
                        }
                        write!(out, "{}", message.text)?;
                    }
                }
                mid_line = true;
                offered.extend(message.buttons.iter().cloned());
            }
            out.flush()?;
            *shown = now;
            let quiet = last_change.is_some_and(|at| at.elapsed() >= QUIET);
            if !offered.is_empty() || quiet {
                if mid_line {
                    writeln!(out)?;
                }
                return Ok(offered);
            }
            if last_change.is_none() && started.elapsed() >= PATIENCE {
                writeln!(out, "(no reply yet; it shows with your next message)")?;
                return Ok(Vec::new());
            }
        }
    }
}
