//! `open-cowork-cloud tokens create|list|revoke`.

use clap::Subcommand;
use cowork_cloud::admin::Admin;
use cowork_cloud::admin::tokens::{DEFAULT_TTL_DAYS, MAX_TTL_DAYS};
use cowork_cloud::auth::Principal;
use serde_json::json;

use super::{Failure, print_json, print_table, text};

/// API tokens.
#[derive(Subcommand, Clone, Debug)]
pub enum TokensCommand {
    /// Mint a token; the token goes to stdout (alone, for scripts) and is not shown again.
    Create {
        /// A name to tell it by.
        #[arg(long)]
        name: String,
        /// gateway, admin or operator (repeat for several).
        #[arg(long = "scope", required = true, value_name = "SCOPE")]
        scopes: Vec<String>,
        /// A channel binding a gateway token may act on (repeat for several).
        #[arg(long = "binding", value_name = "BINDING_ID")]
        bindings: Vec<String>,
        /// Days until it expires.
        #[arg(long, default_value_t = DEFAULT_TTL_DAYS, value_parser = clap::value_parser!(i64).range(1..=MAX_TTL_DAYS))]
        expires_in_days: i64,
    },
    /// List tokens, newest first (never their secrets).
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Revoke a token: it stops working on its next request.
    Revoke {
        /// The token id (tok_…).
        token_id: String,
    },
}

impl TokensCommand {
    /// Runs the command.
    pub async fn run(self, admin: Admin, json: bool) -> Result<(), Failure> {
        let owner = Principal::CommandLine;
        match self {
            Self::Create { name, scopes, bindings, expires_in_days } => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                    .unwrap_or(0);
                let expires_at = now.saturating_add(expires_in_days * 24 * 60 * 60 * 1000);
                let issued = admin.issue_token(&owner, Some(&name), &scopes, Some(expires_at), &bindings).await?;
                if json {
                    print_json(&issued.body());
                } else {
                    eprintln!(
                        "Minted {} ({}; expires {}; bindings {}). Keep the token below now: it is not shown again.",
                        text(&issued.token, "tokenId"),
                        text(&issued.token, "scopes"),
                        text(&issued.token, "expiresAt"),
                        text(&issued.token, "channelBindingIds"),
                    );
                    println!("{}", issued.plaintext.expose());
                }
            }
            Self::List { limit } => {
                let tokens = admin.list_tokens(&owner, limit.clamp(1, 500)).await?;
                if json {
                    print_json(&json!({ "tokens": tokens }));
                } else {
                    let rows: Vec<Vec<String>> = tokens
                        .iter()
                        .map(|t| {
                            let state = if t["revokedAt"].is_string() { "revoked" } else { "active" };
                            vec![
                                text(t, "tokenId"),
                                text(t, "name"),
                                text(t, "scopes"),
                                format!("…{}", text(t, "last4")),
                                state.to_owned(),
                                text(t, "expiresAt"),
                                text(t, "lastUsedAt"),
                                text(t, "channelBindingIds"),
                            ]
                        })
                        .collect();
                    print_table(
                        &["TOKEN", "NAME", "SCOPES", "ENDS", "STATE", "EXPIRES", "LAST USED", "BINDINGS"],
                        &rows,
                    );
                }
            }
            Self::Revoke { token_id } => {
                let revoked = admin.revoke_token(&owner, &token_id).await?;
                if json {
                    print_json(&revoked);
                } else {
                    println!("Revoked {}.", text(&revoked["token"], "tokenId"));
                }
            }
        }
        Ok(())
    }
}
