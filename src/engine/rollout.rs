//! Batches for a rollout: `--serial N|N%` cuts the hosts into batches run one after the other;
//! `--rolling` makes every batch hold at most one node of each cluster, the node that does not
//! hold the VIP first, so a pair never has both nodes down at once. Pure: the caller asks OVH
//! where each VIP is routed and passes the answer in.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// How many hosts a batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Serial {
    /// All hosts in one batch (no `--serial`).
    #[default]
    All,
    Count(usize),
    /// A share of all hosts, rounded up (at least one), as Ansible does.
    Percent(u8),
}

/// A `--serial` value that is not a batch size (clap places it after the flag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a batch size: use a count (10) or a share (25%)")]
pub struct SerialError {
    text: String,
}

impl FromStr for Serial {
    type Err = SerialError;

    fn from_str(text: &str) -> Result<Serial, SerialError> {
        let bad = || SerialError { text: text.into() };
        match text.strip_suffix('%') {
            Some(p) => match p.parse::<u8>() {
                Ok(p) if (1..=100).contains(&p) => Ok(Serial::Percent(p)),
                _ => Err(bad()),
            },
            None => match text.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Serial::Count(n)),
                _ => Err(bad()),
            },
        }
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Serial::All => f.write_str("all"),
            Serial::Count(n) => write!(f, "{n}"),
            Serial::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serial {
    /// The batch size for `total` hosts.
    pub fn size(self, total: usize) -> usize {
        match self {
            Serial::All => total.max(1),
            Serial::Count(n) => n,
            Serial::Percent(p) => (total * usize::from(p)).div_ceil(100).max(1),
        }
    }
}

/// A host as batching sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub cluster: String,
}

/// Cuts `hosts` (in inventory order) into batches. With `active` (cluster -> the node that
/// holds its VIP, for `--rolling`), the hosts go in waves: first every cluster's nodes that do
/// not hold the VIP, one per cluster per wave, then the nodes that do; each wave is cut by
/// `serial`, so no batch ever holds two nodes of one cluster.
pub fn batches(
    hosts: &[Member],
    serial: Serial,
    active: Option<&BTreeMap<String, String>>,
) -> Vec<Vec<String>> {
    let size = serial.size(hosts.len());
    let Some(active) = active else {
        return hosts
            .chunks(size)
            .map(|c| c.iter().map(|m| m.name.clone()).collect())
            .collect();
    };
    // Per cluster, in the order its nodes must go: passive ones first, the VIP's node last.
    let mut queues: Vec<(String, Vec<String>)> = Vec::new();
    for host in hosts {
        match queues.iter_mut().find(|(c, _)| *c == host.cluster) {
            Some((_, q)) => q.push(host.name.clone()),
            None => queues.push((host.cluster.clone(), vec![host.name.clone()])),
        }
    }
    for (cluster, queue) in &mut queues {
        if let Some(holder) = active.get(cluster) {
            // Stable: passive nodes keep their inventory order, the holder goes last.
            queue.sort_by_key(|n| n == holder);
        }
    }
    let mut out = Vec::new();
    let mut wave = 0;
    loop {
        let this_wave: Vec<String> = queues
            .iter()
            .filter_map(|(_, q)| q.get(wave).cloned())
            .collect();
        if this_wave.is_empty() {
            return out;
        }
        out.extend(this_wave.chunks(size).map(<[String]>::to_vec));
        wave += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Vec<Member> {
        (1..=2 * n)
            .map(|i| Member {
                name: format!("node{i}"),
                cluster: format!("pair{}", i.div_ceil(2)),
            })
            .collect()
    }

    #[test]
    fn serial_parses_counts_and_shares() {
        assert_eq!("3".parse::<Serial>(), Ok(Serial::Count(3)));
        assert_eq!("25%".parse::<Serial>(), Ok(Serial::Percent(25)));
        assert!("0".parse::<Serial>().is_err());
        assert!("101%".parse::<Serial>().is_err());
        assert_eq!(
            "x".parse::<Serial>().unwrap_err().to_string(),
            "'x' is not a batch size: use a count (10) or a share (25%)"
        );
        assert_eq!(Serial::Percent(25).size(10), 3);
        assert_eq!(Serial::Percent(1).size(10), 1);
    }

    #[test]
    fn plain_serial_cuts_in_inventory_order() {
        let b = batches(&pairs(2), Serial::Count(3), None);
        assert_eq!(b, vec![vec!["node1", "node2", "node3"], vec!["node4"]]);
        assert_eq!(batches(&pairs(2), Serial::All, None).len(), 1);
    }

    #[test]
    fn rolling_never_puts_both_nodes_of_a_pair_in_one_batch_and_passive_goes_first() {
        let active: BTreeMap<String, String> = [
            ("pair1".to_string(), "node1".to_string()),
            ("pair2".to_string(), "node4".to_string()),
            ("pair3".to_string(), "node5".to_string()),
        ]
        .into();
        let hosts = pairs(3);
        let b = batches(&hosts, Serial::All, Some(&active));
        assert_eq!(
            b,
            vec![
                vec!["node2", "node3", "node6"],
                vec!["node1", "node4", "node5"]
            ]
        );
        for serial in [Serial::Count(2), Serial::Percent(50), Serial::Count(1)] {
            for batch in batches(&hosts, serial, Some(&active)) {
                let mut clusters: Vec<&str> = batch
                    .iter()
                    .map(|n| {
                        hosts
                            .iter()
                            .find(|h| h.name == *n)
                            .unwrap()
                            .cluster
                            .as_str()
                    })
                    .collect();
                clusters.sort_unstable();
                let before = clusters.len();
                clusters.dedup();
                assert_eq!(before, clusters.len(), "{batch:?} with --serial {serial}");
            }
        }
        // A cluster whose VIP holder is unknown keeps inventory order, still one per batch.
        let b = batches(&hosts, Serial::All, Some(&BTreeMap::new()));
        assert_eq!(b[0], vec!["node1", "node3", "node5"]);
    }
}
