//! What a game day plays: the planned switch, or a failure that really happens.

/// A game day's scenario; its name goes into the report and the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// The planned switch-over, through the agent or `--direct`.
    Switch,
    /// The active node dies (OVH's hard reboot cuts its power); the peer's agent takes over.
    NodeCrash,
    /// The link between the nodes is cut while both stay up; what the agents do is reported.
    NetworkSplit,
}

impl Scenario {
    /// `switch`, `node-crash`: as `--scenario` takes it and the history files keep it.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Switch => "switch",
            Scenario::NodeCrash => super::node_crash::LABEL,
            Scenario::NetworkSplit => super::network_split::LABEL,
        }
    }
}
