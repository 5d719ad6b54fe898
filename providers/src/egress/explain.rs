//! The JSON-ready verdict on a URL, for the operator's `GET /egress/explain?url=…`.

use std::net::IpAddr;

use serde::Serialize;

use super::{CheckedUrl, EgressError};

/// The verdict on one URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// Whether a POST would be attempted.
    pub allowed: bool,
    /// `"allowed"`, a [`super::DenyReason`] code, or `"temporary_failure"` when DNS failed
    /// temporarily.
    pub code: &'static str,
    /// A human reason.
    pub reason: String,
    /// The addresses judged: the validated ones when allowed, what DNS answered when denied.
    pub addresses: Vec<String>,
}

impl Explanation {
    /// The explanation of one evaluation.
    pub(super) fn new(result: &Result<CheckedUrl, EgressError>, resolved: &[IpAddr]) -> Self {
        let addresses = resolved.iter().map(IpAddr::to_string).collect();
        match result {
            Ok(checked) => Self {
                allowed: true,
                code: "allowed",
                reason: format!("allowed: {} passes the policy at every address", checked.host()),
                addresses,
            },
            Err(EgressError::Denied(reason)) => {
                Self { allowed: false, code: reason.code(), reason: reason.to_string(), addresses }
            }
            Err(other) => Self { allowed: false, code: other.code(), reason: other.to_string(), addresses },
        }
    }
}
