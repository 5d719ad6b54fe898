//! People: the identity a human auth mode resolves (header or OIDC), and their roles (§5.5's
//! built-in owner, admin and member).

use std::fmt;

/// A person's role in the organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HumanRole {
    /// Everything.
    Owner,
    /// Administration: agents, bindings, identities, tokens.
    Admin,
    /// Reading and sessions only: no administration.
    Member,
}

impl HumanRole {
    /// The role named `value` (`owner`, `admin`, `member`); anything else is none.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "owner" => Some(Self::Owner),
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    /// Whether the role may set the cloud up.
    pub fn administers(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

impl fmt::Display for HumanRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which mode vouched for a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HumanSource {
    /// Identity headers from the trusted proxy.
    Header,
    /// A bearer JWT from the OIDC issuer.
    Oidc,
}

impl HumanSource {
    /// The mode's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Oidc => "oidc",
        }
    }
}

/// A person a human auth mode vouched for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Human {
    /// The user id (the proxy's, or derived from the issuer and subject).
    pub user_id: String,
    /// The email address (may be empty from a proxy that sends none).
    pub email: String,
    /// The tenant the proxy or issuer names (recorded; this cloud serves one organization).
    pub tenant_id: String,
    /// The role.
    pub role: HumanRole,
    /// Which mode vouched.
    pub source: HumanSource,
}
