//! The billing gate: `cloud.billing.provider` `none` (the default: nothing is gated) or `stub`,
//! whose subscription status (`cloud.billing.stub.status`, `OPEN_COWORK_CLOUD_BILLING_STUB_STATUS`)
//! stands in for a real provider's. A blocked organization gets 402 on the gated writes (new
//! agents and bindings, binds, prompts); reads, aborts, answers and token administration are
//! never gated, as in Open Cowork.

use std::str::FromStr;

use crate::api::ApiError;

/// What a write needs from the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatedAction {
    /// Creating agents and bindings (`channel.manage`).
    ChannelManage,
    /// Binding a thread to a session (`gateway.session.bind`).
    SessionBind,
    /// Queuing a prompt (`prompt.enqueue`).
    PromptEnqueue,
}

/// The stub's subscription status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StubStatus {
    /// Everything is allowed.
    Active,
    /// There is a subscription, but it is not active (402 `billing.subscription_inactive`).
    Inactive,
    /// There is no subscription (402 `billing.subscription_required`).
    None,
}

impl FromStr for StubStatus {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "active" => Ok(Self::Active),
            "inactive" => Ok(Self::Inactive),
            "none" => Ok(Self::None),
            _ => Err("must be one of active, inactive, none".to_owned()),
        }
    }
}

/// The configured billing provider.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Billing {
    /// No billing: nothing is gated.
    #[default]
    None,
    /// A stand-in provider with a fixed status.
    Stub(StubStatus),
}

impl Billing {
    /// From the provider name and the stub's status.
    pub fn parse(provider: &str, stub_status: Option<&str>) -> Result<Self, String> {
        match provider {
            "none" => Ok(Self::None),
            "stub" => Ok(Self::Stub(stub_status.unwrap_or("active").parse()?)),
            _ => Err("must be none or stub".to_owned()),
        }
    }

    /// Refuses `action` with 402 when the plan does not allow it.
    pub fn check(self, action: GatedAction) -> Result<(), ApiError> {
        let what = match action {
            GatedAction::ChannelManage => "Managing channels",
            GatedAction::SessionBind => "Starting channel sessions",
            GatedAction::PromptEnqueue => "Sending prompts",
        };
        match self {
            Self::None | Self::Stub(StubStatus::Active) => Ok(()),
            Self::Stub(StubStatus::Inactive) => Err(ApiError::PaymentRequired {
                code: "billing.subscription_inactive",
                message: format!("{what} needs an active subscription; the organization's is not active."),
            }),
            Self::Stub(StubStatus::None) => Err(ApiError::PaymentRequired {
                code: "billing.subscription_required",
                message: format!("{what} needs a subscription; the organization has none."),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_blocked_stub_refuses_with_402() {
        assert!(Billing::None.check(GatedAction::PromptEnqueue).is_ok());
        assert!(Billing::parse("stub", None).is_ok_and(|b| b.check(GatedAction::SessionBind).is_ok()));
        let inactive = Billing::parse("stub", Some("inactive")).expect("valid");
        let error = inactive.check(GatedAction::PromptEnqueue).expect_err("blocked");
        assert_eq!((error.status().as_u16(), error.code()), (402, "billing.subscription_inactive"));
        let none = Billing::parse("stub", Some("none")).expect("valid");
        assert_eq!(
            none.check(GatedAction::ChannelManage).err().map(|e| e.code()),
            Some("billing.subscription_required")
        );
        assert!(Billing::parse("stripe", None).is_err());
        assert!(Billing::parse("stub", Some("paused")).is_err());
    }
}
