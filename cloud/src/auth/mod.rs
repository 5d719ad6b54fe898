//! Who is calling: API tokens and their scopes, the human auth modes (header, OIDC, the local
//! owner), the principal a request acts as, and what each principal may do. Every access
//! decision of the API is made by the methods here.

pub mod header;
pub mod human;
pub mod mode;
pub mod oidc;
pub mod replay;
pub mod token;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

pub use human::{Human, HumanRole, HumanSource};
pub use mode::{HumanAuth, HumanAuthError};
pub use token::{MintedToken, PresentedToken, TokenHasher, TokenId};

use crate::api::ApiError;

/// What an API token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// The channel service routes, on the token's granted bindings only.
    Gateway,
    /// Setting up agents, bindings, identities and tokens.
    Admin,
    /// Diagnostics, metrics and the delivery queue's operator actions.
    Operator,
}

impl Scope {
    /// Every scope, in wire order.
    pub const ALL: [Scope; 3] = [Self::Gateway, Self::Admin, Self::Operator];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::Admin => "admin",
            Self::Operator => "operator",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == value)
            .ok_or_else(|| format!("unsupported scope {value:?} (use gateway, admin or operator)"))
    }
}

/// A set of scopes, stored as a comma-separated list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// Parses scope names; duplicates collapse; at least one is required.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let scopes = names.into_iter().map(str::trim).filter(|n| !n.is_empty()).map(Scope::from_str);
        let set = scopes.collect::<Result<BTreeSet<_>, _>>()?;
        if set.is_empty() {
            return Err("at least one scope is required (gateway, admin or operator)".into());
        }
        Ok(Self(set))
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// The scope names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|s| s.as_str()).collect()
    }

    /// The stored form.
    pub fn to_stored(&self) -> String {
        self.names().join(",")
    }

    /// Reads the stored form; unknown names (written by a newer version) are dropped.
    pub fn from_stored(stored: &str) -> Self {
        Self(stored.split(',').filter_map(|name| name.parse().ok()).collect())
    }
}

/// The user id of the local owner (mode `none`), as Open Cowork names it.
pub const LOCAL_USER_ID: &str = "local-user";

/// Who performs an action: an API token, a person, the local owner, or the command line.
#[derive(Clone, Debug)]
pub enum Principal {
    /// A verified, unexpired, unrevoked API token.
    Token {
        /// The token.
        id: TokenId,
        /// Its scopes.
        scopes: Scopes,
    },
    /// A person vouched for by header or OIDC auth. People administer (owner, admin) or not
    /// (member); they never act on the channel service routes, which are for gateways.
    Human(Human),
    /// Whoever reaches a cloud in auth mode `none`: its owner.
    LocalOwner,
    /// `open-cowork-cloud` on the command line: whoever can open the database owns the cloud.
    CommandLine,
}

impl Principal {
    /// The audit actor type and id.
    pub fn actor(&self) -> (&'static str, &str) {
        match self {
            Self::Token { id, .. } => ("api_token", id.as_str()),
            Self::Human(human) => ("user", &human.user_id),
            Self::LocalOwner => ("user", LOCAL_USER_ID),
            Self::CommandLine => ("system", "command-line"),
        }
    }

    /// Whether the principal administers the whole organization (see [`Self::require_admin`]).
    pub fn administers(&self) -> bool {
        match self {
            Self::Token { scopes, .. } => scopes.contains(Scope::Admin),
            Self::Human(human) => human.role.administers(),
            Self::LocalOwner | Self::CommandLine => true,
        }
    }

    /// Refuses unless the principal may set up agents, bindings, identities and tokens: an
    /// admin-scoped token, an owner or admin, the local owner or the command line. A gateway or
    /// operator token, or a member, is refused here.
    pub fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        match self {
            Self::Token { scopes, .. } if scopes.contains(Scope::Admin) => Ok(()),
            Self::Token { .. } => Err(ApiError::forbidden(
                "auth.admin_scope_required",
                format!("{what} requires an admin-scoped API token."),
            )),
            Self::Human(human) if human.role.administers() => Ok(()),
            Self::Human(_) => Err(ApiError::forbidden(
                "auth.admin_role_required",
                format!("{what} requires the owner or admin role."),
            )),
            Self::LocalOwner | Self::CommandLine => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_dedupe_and_round_trip() {
        let scopes = Scopes::parse(["gateway", " admin", "gateway"]).expect("valid");
        assert_eq!(scopes.names(), ["gateway", "admin"]);
        assert_eq!(Scopes::from_stored(&scopes.to_stored()), scopes);
        assert!(Scopes::parse(["desktop"]).is_err());
        assert!(Scopes::parse([]).is_err());
        assert!(Scopes::parse([" "]).is_err());
    }

    #[test]
    fn only_admin_scoped_principals_administer() {
        let gateway = Principal::Token {
            id: TokenId::parse("tok_AAAAAAAAAAAAAAAA").expect("id"),
            scopes: Scopes::parse(["gateway", "operator"]).expect("valid"),
        };
        let error = gateway.require_admin("Channel administration").expect_err("refused");
        assert_eq!(error.status(), axum::http::StatusCode::FORBIDDEN);
        assert!(Principal::CommandLine.require_admin("x").is_ok());
    }

    fn human(role: HumanRole) -> Principal {
        Principal::Human(Human {
            user_id: "u-1".into(),
            email: "ada@example.com".into(),
            tenant_id: "default".into(),
            role,
            source: HumanSource::Header,
        })
    }

    #[test]
    fn owners_and_admins_administer_and_members_do_not() {
        assert!(human(HumanRole::Owner).require_admin("x").is_ok());
        assert!(human(HumanRole::Admin).require_admin("x").is_ok());
        let error = human(HumanRole::Member).require_admin("Channel administration").expect_err("refused");
        assert_eq!((error.status(), error.code()), (axum::http::StatusCode::FORBIDDEN, "auth.admin_role_required"));
        assert!(Principal::LocalOwner.require_admin("x").is_ok());
        assert_eq!(human(HumanRole::Member).actor(), ("user", "u-1"));
        assert_eq!(Principal::LocalOwner.actor(), ("user", LOCAL_USER_ID));
    }
}
