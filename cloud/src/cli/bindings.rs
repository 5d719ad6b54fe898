//! `open-cowork-cloud bindings create|list`.

use clap::Subcommand;
use cowork_cloud::admin::Admin;
use cowork_cloud::admin::agents::NewAgent;
use cowork_cloud::admin::bindings::NewBinding;
use cowork_cloud::auth::Principal;
use serde_json::json;

use super::{Failure, print_json, print_table, text};

/// The agent `bindings create` uses when none is named; made on first use.
const DEFAULT_AGENT_ID: &str = "default";

/// Channel bindings.
#[derive(Subcommand, Clone, Debug)]
pub enum BindingsCommand {
    /// Create a binding (creating the agent `default` first when no agent is named).
    Create {
        /// The provider: slack, email, webhook, fake, ... or a name with a dash (slack-prod).
        #[arg(long)]
        provider: String,
        /// The binding id the gateway is configured with (default: a random one).
        #[arg(long, value_name = "ID")]
        binding_id: Option<String>,
        /// The headless agent (default: `default`).
        #[arg(long, value_name = "ID")]
        agent_id: Option<String>,
        /// A name to show (default: the provider).
        #[arg(long)]
        display_name: Option<String>,
        /// The platform workspace (a Slack team id, ...).
        #[arg(long, value_name = "ID")]
        workspace_id: Option<String>,
        /// A reference to the platform credential (env:NAME, aws-sm://..., ...).
        #[arg(long, value_name = "REF")]
        credential_ref: Option<String>,
    },
    /// List bindings, most recently changed first.
    List {
        /// Only this agent's bindings.
        #[arg(long, value_name = "ID")]
        agent_id: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

impl BindingsCommand {
    /// Runs the command.
    pub async fn run(self, admin: Admin, json: bool) -> Result<(), Failure> {
        let owner = Principal::CommandLine;
        match self {
            Self::Create { provider, binding_id, agent_id, display_name, workspace_id, credential_ref } => {
                let agent_id = match agent_id {
                    Some(agent_id) => agent_id,
                    None => {
                        let agent = NewAgent {
                            agent_id: Some(DEFAULT_AGENT_ID.to_owned()),
                            name: Some("Default agent".to_owned()),
                            ..NewAgent::default()
                        };
                        admin.create_agent(&owner, agent).await?;
                        DEFAULT_AGENT_ID.to_owned()
                    }
                };
                let binding = NewBinding {
                    binding_id,
                    agent_id: Some(agent_id),
                    display_name: Some(display_name.unwrap_or_else(|| provider.clone())),
                    provider: Some(provider),
                    external_workspace_id: workspace_id,
                    credential_ref,
                    ..NewBinding::default()
                };
                let created = admin.create_binding(&owner, binding).await?;
                if json {
                    print_json(&json!({ "binding": created }));
                } else {
                    println!(
                        "Binding {} ({}, agent {}, {}).",
                        text(&created, "bindingId"),
                        text(&created, "provider"),
                        text(&created, "agentId"),
                        text(&created, "status"),
                    );
                }
            }
            Self::List { agent_id, limit } => {
                let bindings = admin.list_bindings(&owner, agent_id.as_deref(), limit.clamp(1, 500)).await?;
                if json {
                    print_json(&json!({ "bindings": bindings }));
                } else {
                    let rows: Vec<Vec<String>> = bindings
                        .iter()
                        .map(|b| {
                            vec![
                                text(b, "bindingId"),
                                text(b, "provider"),
                                text(b, "agentId"),
                                text(b, "status"),
                                text(b, "displayName"),
                                text(b, "externalWorkspaceId"),
                                text(b, "credentialRefKind"),
                            ]
                        })
                        .collect();
                    print_table(&["BINDING", "PROVIDER", "AGENT", "STATUS", "NAME", "WORKSPACE", "CREDENTIAL"], &rows);
                }
            }
        }
        Ok(())
    }
}
