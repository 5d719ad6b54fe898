//! Provider and binding identifiers.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A provider instance id such as `fake` or `slack-work`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProviderId(String);

/// A channel binding id: the unit of routing, ownership and sharding.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BindingId(String);

macro_rules! impl_id {
    ($name:ident) => {
        impl $name {
            /// Wraps a raw id.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

impl_id!(ProviderId);
impl_id!(BindingId);

/// The provider kinds this build knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// The loopback test and demo provider.
    Fake,
    /// The generic signed webhook (Open Cowork's `webhook` kind).
    Webhook,
    /// Slack (Events API, interactivity and the Web API).
    Slack,
    /// Email: inbound relayed mail, replies over SMTP.
    Email,
}

impl ProviderKind {
    /// The config name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fake => "fake",
            Self::Webhook => "webhook",
            Self::Slack => "slack",
            Self::Email => "email",
        }
    }
}
