//! The game day's errors, with the data to word them: [`FlipError`] (a flip that failed, after
//! which the service is restored). Where a sentence ends in the report (a note, an alarm, a
//! refusal), it becomes text there; until then it is one of these.

use super::agent_wait::SwitchEndError;
use super::node_exec::CommandError;
use crate::ovh::OvhError;
use crate::sh::QuotedPlaceholder;

/// Why a flip failed, in one sentence (the timeline notes "{label} failed: {this}").
#[derive(Debug, thiserror::Error)]
pub enum FlipError {
    /// A stop, a start or the switch command failed on a node.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// `--direct`: OVH did not move the VIP.
    #[error("moving the VIP: {0}")]
    MoveVip(OvhError),
    /// Ctrl-C during the flip: the service is put back.
    #[error("interrupted (Ctrl-C): restoring")]
    Interrupted,
    /// The cluster's switch command cannot be filled.
    #[error("switch_command: {0}")]
    SwitchCommand(#[from] QuotedPlaceholder),
    /// The agent's switch failed or did not end in time.
    #[error(transparent)]
    SwitchEnd(#[from] SwitchEndError),
    /// The agent says the switch is done but the VIP is routed elsewhere (`None`: nowhere).
    #[error(
        "the agent reports the switch done but OVH routes the VIP to {}",
        .routed.as_deref().unwrap_or("nowhere")
    )]
    RoutedElsewhere { routed: Option<String> },
    /// OVH could not say where the VIP is routed after the agent's switch.
    #[error("asking OVH where the VIP is: {0}")]
    VipStatus(OvhError),
}
