//! Server hooks (`[apps.hooks]`): synchronous HTTP callbacks that let the app decide on a
//! connection (`connect`), a subscription (`subscribe`) and a client event (`publish`), each with
//! its timeout and what to do when the hook cannot answer.

use serde::{Deserialize, Serialize};

/// What happens when a hook times out, cannot be reached or answers nonsense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    /// Refuse, as if the hook had said no (the safe default).
    #[default]
    Deny,
    /// Go on as if there were no hook.
    Allow,
}

/// One hook: where it is, how long to wait, and what to do when it fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// `http://` or `https://` URL the request is POSTed to.
    pub url: String,
    /// Milliseconds to wait for the answer.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub failure: FailureMode,
}

fn default_timeout_ms() -> u64 {
    2000
}

/// An app's hooks; each is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HooksConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<Hook>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<Hook>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<Hook>,
}

impl HooksConfig {
    pub(super) fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        for (field, hook) in [
            ("hooks.connect", &self.connect),
            ("hooks.subscribe", &self.subscribe),
            ("hooks.publish", &self.publish),
        ] {
            let Some(h) = hook else { continue };
            super::webhooks::check_url(&h.url).map_err(|r| (field, r))?;
            if h.timeout_ms == 0 {
                return Err((field, "timeout_ms must be at least 1"));
            }
        }
        Ok(())
    }
}
