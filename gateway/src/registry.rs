//! The configured provider instances, built once at startup and looked up by id.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cowork_providers::egress::{Egress, SystemResolver};
use cowork_providers::email::{EmailCredentials, EmailProvider};
use cowork_providers::fake::FakeProvider;
use cowork_providers::slack::SlackProvider;
use cowork_providers::webhook::WebhookProvider;

use cowork_providers::{ChannelProvider, ProviderId};

/// How long one Slack Web API call may take (DNS and request).
const SLACK_API_TIMEOUT: Duration = Duration::from_secs(15);

use crate::config::{ProviderConfig, ProviderSettings};
use crate::store::GatewayStore;

/// One provider with its configuration.
pub struct RegisteredProvider {
    /// Its configuration.
    pub config: ProviderConfig,
    /// The provider.
    pub provider: Arc<dyn ChannelProvider>,
    /// The same provider as a fake, for its transcript route.
    pub fake: Option<Arc<FakeProvider>>,
}

/// Wraps a provider instance (for example to inject platform faults in tests).
pub type ProviderWrapper =
    Arc<dyn Fn(&ProviderConfig, Arc<dyn ChannelProvider>) -> Arc<dyn ChannelProvider> + Send + Sync>;

/// All enabled providers by id.
#[derive(Clone, Default)]
pub struct ProviderRegistry {
    by_id: Arc<HashMap<ProviderId, Arc<RegisteredProvider>>>,
}

impl ProviderRegistry {
    /// Instantiates every configured provider.
    pub fn build(configs: &[ProviderConfig], store: &GatewayStore, smtp_timeout: Duration) -> anyhow::Result<Self> {
        let mut by_id = HashMap::new();
        for config in configs {
            if let Some(registered) = build_one(config, Some(store), smtp_timeout)? {
                by_id.insert(config.id.clone(), Arc::new(registered));
            }
        }
        Ok(Self { by_id: Arc::new(by_id) })
    }

    /// The providers that talk to a platform (every kind but `fake`), built without a store,
    /// for `doctor`; each with its configuration, or why it could not be built.
    pub fn platforms(
        configs: &[ProviderConfig],
        smtp_timeout: Duration,
    ) -> Vec<(ProviderConfig, anyhow::Result<Arc<dyn ChannelProvider>>)> {
        configs
            .iter()
            .filter_map(|config| match build_one(config, None, smtp_timeout) {
                Ok(Some(registered)) => Some((config.clone(), Ok(registered.provider))),
                Ok(None) => None,
                Err(error) => Some((config.clone(), Err(error))),
            })
            .collect()
    }

    /// The same providers, each replaced by `wrap(config, provider)`.
    pub fn wrapped(self, wrap: &ProviderWrapper) -> Self {
        let by_id = self
            .by_id
            .iter()
            .map(|(id, registered)| {
                let provider = wrap(&registered.config, registered.provider.clone());
                let wrapped =
                    RegisteredProvider { config: registered.config.clone(), provider, fake: registered.fake.clone() };
                (id.clone(), Arc::new(wrapped))
            })
            .collect();
        Self { by_id: Arc::new(by_id) }
    }

    /// The provider with this id.
    pub fn get(&self, id: &ProviderId) -> Option<Arc<RegisteredProvider>> {
        self.by_id.get(id).cloned()
    }

    /// Every provider.
    pub fn all(&self) -> impl Iterator<Item = &Arc<RegisteredProvider>> {
        self.by_id.values()
    }
}

/// Builds one provider; a fake provider needs the store (its transcript) and is left out without
/// one.
fn build_one(
    config: &ProviderConfig,
    store: Option<&GatewayStore>,
    smtp_timeout: Duration,
) -> anyhow::Result<Option<RegisteredProvider>> {
    let credential = |name: &str| -> Vec<String> {
        config.credentials.get(name).into_iter().flatten().map(|s| s.expose().to_owned()).collect()
    };
    let registered = match &config.settings {
        ProviderSettings::Fake(settings) => {
            let Some(store) = store else { return Ok(None) };
            let fake = Arc::new(FakeProvider::new(config.id.clone(), settings.clone(), Arc::new(store.clone())));
            RegisteredProvider { config: config.clone(), provider: fake.clone(), fake: Some(fake) }
        }
        ProviderSettings::Webhook(settings) => {
            let secrets = credential("sharedSecret");
            let egress = Egress::new(Arc::new(SystemResolver), settings.delivery_timeout());
            let webhook = WebhookProvider::new(config.id.clone(), secrets, settings.clone(), egress)
                .map_err(|reason| anyhow::anyhow!("provider `{}`: {reason}", config.id))?;
            RegisteredProvider { config: config.clone(), provider: Arc::new(webhook), fake: None }
        }
        ProviderSettings::Slack(settings) => {
            let token = credential("botToken").into_iter().next().unwrap_or_default();
            let egress = Egress::new(Arc::new(SystemResolver), SLACK_API_TIMEOUT);
            let slack = SlackProvider::new(
                config.id.clone(),
                token,
                credential("signingSecret"),
                settings.clone(),
                config.workspace_id.clone(),
                egress,
            )
            .map_err(|reason| anyhow::anyhow!("provider `{}`: {reason}", config.id))?;
            RegisteredProvider { config: config.clone(), provider: Arc::new(slack), fake: None }
        }
        ProviderSettings::Email(settings) => {
            let credentials = EmailCredentials {
                inbound_secrets: credential("inboundSecret"),
                smtp_password: credential("smtpPassword").into_iter().next(),
            };
            let email = EmailProvider::new(config.id.clone(), credentials, settings.clone(), smtp_timeout)
                .map_err(|reason| anyhow::anyhow!("provider `{}`: {reason}", config.id))?;
            RegisteredProvider { config: config.clone(), provider: Arc::new(email), fake: None }
        }
    };
    Ok(Some(registered))
}
