//! The game day's errors, with the data to word them: [`Refusal`] (why it never started),
//! [`FlipError`] (a flip that failed, after which the service is restored) and [`AgentError`]
//! (the agent's status unreadable). Where a sentence ends in the report (a note, an alarm, a
//! refusal), it becomes text there; until then it is one of these.

use std::net::Ipv4Addr;

use super::agent::StatusError;
use super::agent_wait::SwitchEndError;
use super::node_exec::{CommandError, ExecError};
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

/// Why the OpenSVC agent's view of the service could not be read on a node.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot read the OpenSVC agent's status on {node}: {source}")]
    Unreadable { node: String, source: ExecError },
    #[error("on {node}: {source}")]
    Status { node: String, source: StatusError },
}

/// Why a game day refused to start (the lock, the preflight): nothing was touched. The report
/// says it as "refused to start: {this}".
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("switch_command: {0}")]
    SwitchCommand(#[from] QuotedPlaceholder),
    /// Another game day's lock (`lock`: its directory) is on `node`.
    #[error(
        "another game day holds cluster {cluster} (lock {lock} on {node}: {detail}); if it is gone, remove that directory"
    )]
    Locked {
        cluster: String,
        lock: String,
        node: String,
        detail: String,
    },
    #[error("cannot take the lock on {node}: {detail}")]
    Lock { node: String, detail: String },
    #[error("cannot inspect {node}: {source}")]
    Inspect { node: String, source: ExecError },
    #[error("{config} is missing on {node}: run `tandem config push` first")]
    ConfigMissing { config: String, node: String },
    #[error(
        "{config} differs between {first} and {second}: see `tandem config diff`, heal with `tandem config push`"
    )]
    ConfigDiffers {
        config: String,
        first: String,
        second: String,
    },
    #[error("asking OVH where {vip} is routed: {source}")]
    VipStatus { vip: Ipv4Addr, source: OvhError },
    #[error("{vip} is routed to no server: route it to a node first (tandem vip move)")]
    RoutedNowhere { vip: Ipv4Addr },
    /// The VIP is routed to `routed`, an OVH service name of neither node.
    #[error("{vip} is routed to {routed}, which is neither node of cluster {cluster}")]
    RoutedElsewhere {
        vip: Ipv4Addr,
        routed: String,
        cluster: String,
    },
    /// `--to wanted` names the node the VIP is already on; `other` is the one to switch to.
    #[error("{vip} is already routed to {wanted}: nothing to switch (try --to {other})")]
    AlreadyThere {
        vip: Ipv4Addr,
        wanted: String,
        other: String,
    },
    /// OVH refused the move or the reboot (its own words).
    #[error(transparent)]
    OvhRefused(OvhError),
    #[error("asking OVH whether {vip} can move: {source}")]
    MoveCheck { vip: Ipv4Addr, source: OvhError },
    #[error("asking OVH whether the keys may reboot: {source}")]
    RebootCheck { source: OvhError },
    #[error(
        "{node} is not ready: it has no container {container} (deploy the cookbook playbook there)"
    )]
    NoContainer { node: String, container: String },
    /// `--direct`: the trigger that moves the VIP is missing (`dir`: `{etc}/{service}.d`).
    #[error("{node} has no executable {dir}/ovh_routes: run `tandem config push`")]
    NoTrigger { node: String, dir: String },
    #[error(
        "no OpenSVC agent (`om`) on {node}: install it, or pass --direct to switch with tandem itself"
    )]
    NoAgent { node: String },
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The agent on `asked` does not see the service on `node`.
    #[error(
        "the OpenSVC agent on {asked} does not see service {service} on {node} (is its daemon running and the cluster joined? see `om mon`)"
    )]
    NotSeen {
        asked: String,
        service: String,
        node: String,
    },
    #[error(
        "the OpenSVC agent reports {service} on {node}: {status}: look at `om {service} logs`, then `om {service} clear`"
    )]
    InstanceFailed {
        service: String,
        node: String,
        status: String,
    },
    #[error("{service} is frozen on {node}: the agent would not switch it (`om {service} thaw`)")]
    Frozen { service: String, node: String },
    /// `what`: the instances, as the agent describes them.
    #[error("the OpenSVC agent is still working on {service} ({what}): wait for it to finish")]
    Busy { service: String, what: String },
    #[error(
        "the OpenSVC agent says {service} is not up on {node} ({what}): start it there first (`om {service} start`)"
    )]
    NotUp {
        service: String,
        node: String,
        what: String,
    },
    /// The crash scenario: the survivor's agent would not take the service over.
    #[error(
        "{service} has orchestrate = {orchestrate} on {node}: after a crash nobody would take it over; set the playbook's opensvc_orchestrate to ha and run `tandem config push`"
    )]
    NotHa {
        service: String,
        orchestrate: String,
        node: String,
    },
    #[error(
        "the service does not answer on {vip}:{port}: nothing to measure (is it running on {node}?)"
    )]
    NoAnswer {
        vip: Ipv4Addr,
        port: u16,
        node: String,
    },
}

/// What went wrong around a crash: OVH's reboot, the node's return.
#[derive(Debug, thiserror::Error)]
pub enum CrashError {
    /// `service`: the server's name in OVH's API.
    #[error("OVH refused the hard reboot of {service}: {source}")]
    RebootRefused { service: String, source: OvhError },
    #[error("{node} is not in the fleet")]
    NotInFleet { node: String },
    /// The crashed node did not let us log in again in time: the last login error.
    #[error("{last}")]
    NotBack { last: String },
}

/// What keeps a pair from being whole after the crashed node came back (`seen`: the instances
/// as the survivor's agent describes them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotWhole {
    #[error("the agent does not see both nodes yet ({seen})")]
    NotBothSeen { seen: String },
    #[error("the service is not up on {survivor} ({seen})")]
    NotUp { survivor: String, seen: String },
    #[error("the service runs on {lost} too ({seen})")]
    RunsOnBoth { lost: String, seen: String },
    /// `instance`: the failed or frozen one, described.
    #[error("not at rest: {instance}")]
    NotAtRest { instance: String },
    #[error("the agent is still at work ({seen})")]
    AtWork { seen: String },
    #[error("the agent could not be asked")]
    AgentUnreachable,
}
