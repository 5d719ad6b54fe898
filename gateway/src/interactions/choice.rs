//! What an answer means for a given interaction: a button's choice or a text command, checked
//! against the interaction's kind and options.

use cowork_cloud_client::CommandBody;
use cowork_providers::InteractionVerb;

use crate::store::{InteractionKind, NewInteraction};

/// A decided answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Approval granted.
    Allow,
    /// Approval refused.
    Deny,
    /// A question answered.
    Answer(String),
    /// A question declined.
    Reject,
}

impl Choice {
    /// Resolves `verb` (and a button's `handle_choice`) for `spec`; `Err` holds a reply for the user.
    pub fn resolve(spec: &NewInteraction, verb: &InteractionVerb, handle_choice: Option<&str>) -> Result<Self, String> {
        match (spec.kind, verb) {
            (InteractionKind::Permission, InteractionVerb::Click) => match handle_choice {
                Some("y") => Ok(Self::Allow),
                Some("n") => Ok(Self::Deny),
                _ => Err("That button is not part of this approval.".into()),
            },
            (InteractionKind::Permission, InteractionVerb::Approve) => Ok(Self::Allow),
            (InteractionKind::Permission, InteractionVerb::Deny) => Ok(Self::Deny),
            (InteractionKind::Permission, InteractionVerb::Answer(_)) => {
                Err(format!("This is an approval: reply /approve {0} or /deny {0}.", spec.code))
            }
            (InteractionKind::Question, InteractionVerb::Click) => match handle_choice {
                Some("r") => Ok(Self::Reject),
                Some(index) => index
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| spec.options.get(i))
                    .map(|label| Self::Answer(label.clone()))
                    .ok_or_else(|| "That button is not part of this question.".into()),
                None => Err("That button is not part of this question.".into()),
            },
            (InteractionKind::Question, InteractionVerb::Approve) => {
                Err(format!("This is a question: reply /answer {} <number or text>.", spec.code))
            }
            (InteractionKind::Question, InteractionVerb::Deny) => Ok(Self::Reject),
            (InteractionKind::Question, InteractionVerb::Answer(text)) => {
                let by_number =
                    text.trim().parse::<usize>().ok().filter(|n| *n >= 1).and_then(|n| spec.options.get(n - 1));
                Ok(Self::Answer(by_number.cloned().unwrap_or_else(|| text.trim().to_owned())))
            }
        }
    }

    /// The form stored with the decision.
    pub fn stored(&self) -> String {
        match self {
            Self::Allow => "y".into(),
            Self::Deny => "n".into(),
            Self::Answer(text) => format!("a:{text}"),
            Self::Reject => "r".into(),
        }
    }

    /// Reads back [`Self::stored`].
    pub fn from_stored(stored: &str) -> Self {
        match stored {
            "y" => Self::Allow,
            "n" => Self::Deny,
            "r" => Self::Reject,
            other => Self::Answer(other.strip_prefix("a:").unwrap_or(other).to_owned()),
        }
    }

    /// How the decision reads in the channel.
    pub fn summary(&self) -> String {
        match self {
            Self::Allow => "Approved".into(),
            Self::Deny => "Denied".into(),
            Self::Answer(text) => format!("Answered \"{text}\""),
            Self::Reject => "Declined".into(),
        }
    }

    /// The session command that carries the decision.
    pub fn command(&self, target_id: &str) -> CommandBody {
        match self {
            Self::Allow | Self::Deny => {
                CommandBody::PermissionRespond { permission_id: target_id.to_owned(), allowed: *self == Self::Allow }
            }
            Self::Answer(text) => {
                CommandBody::QuestionReply { request_id: target_id.to_owned(), answers: vec![text.clone()] }
            }
            Self::Reject => CommandBody::QuestionReject { request_id: target_id.to_owned() },
        }
    }
}
