//! The configured provider instances, built once at startup and looked up by id.

use std::collections::HashMap;
use std::sync::Arc;

use cowork_providers::fake::FakeProvider;
use cowork_providers::{ChannelProvider, ProviderId};

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

/// All enabled providers by id.
#[derive(Clone, Default)]
pub struct ProviderRegistry {
    by_id: Arc<HashMap<ProviderId, Arc<RegisteredProvider>>>,
}

impl ProviderRegistry {
    /// Instantiates every configured provider.
    pub fn build(configs: &[ProviderConfig], store: &GatewayStore) -> Self {
        let mut by_id = HashMap::new();
        for config in configs {
            let registered = match &config.settings {
                ProviderSettings::Fake(settings) => {
                    let fake =
                        Arc::new(FakeProvider::new(config.id.clone(), settings.clone(), Arc::new(store.clone())));
                    RegisteredProvider { config: config.clone(), provider: fake.clone(), fake: Some(fake) }
                }
            };
            by_id.insert(config.id.clone(), Arc::new(registered));
        }
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
