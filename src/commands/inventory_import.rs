//! `tandem inventory import --from-ovh`: an inventory written from what the OVH account holds
//! (its dedicated servers and failover IPs), with the pairs the user picked (`--pair`), so that
//! nobody copies service names and addresses by hand. Pure: the account's listing in, YAML
//! text out; the command (`inventory.rs`) asks OVH and writes the file. It lives with the
//! commands, its only user: the inventory layer below reads inventories, it does not write them.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::inventory::valid_name;
use crate::ovh::{FailoverIp, Server};

/// A `--pair` that cannot be written into an inventory; the message names the flag to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error("--pair {text}: use NODE1,NODE2 or NAME=NODE1,NODE2[,VIP]")]
    PairSyntax { text: String },
    #[error("--pair {text}: {vip} is not an IPv4 address")]
    PairVip { text: String, vip: String },
    #[error("--pair {text}: a pair needs two different servers")]
    PairTwice { text: String },
    #[error("--pair: no dedicated server {wanted} in this OVH account (its servers: {known})")]
    NoSuchServer { wanted: String, known: String },
    #[error("--pair: server {server} is in two pairs: a server belongs to one cluster")]
    ServerInTwoPairs { server: String },
    #[error("--pair {name}=...: use letters, digits, '.', '_' and '-' in a cluster name")]
    BadClusterName { name: String },
    #[error("--pair {name}: {vip} is not a failover IP of this OVH account")]
    NotAFailoverIp { name: String, vip: Ipv4Addr },
    #[error(
        "--pair {name}: {first} and {second} hold {count} failover IPs ({ips}): say which is the \
         VIP with --pair {name}={first},{second},IP"
    )]
    WhichVip {
        name: String,
        first: String,
        second: String,
        count: usize,
        ips: String,
    },
    #[error("--pair {name}=...: that name is already a node or another cluster: pick another")]
    NameTaken { name: String },
}

/// One `--pair [NAME=]A,B[,VIP]`: a cluster of two servers (node names or service names) and,
/// when the two hold more than one failover IP, the one that is the VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairSpec {
    pub name: Option<String>,
    pub servers: [String; 2],
    pub vip: Option<Ipv4Addr>,
}

impl PairSpec {
    pub fn parse(text: &str) -> Result<PairSpec, ImportError> {
        let usage = || ImportError::PairSyntax {
            text: text.to_string(),
        };
        let (name, rest) = match text.split_once('=') {
            Some((name, rest)) => (Some(name.trim().to_string()), rest),
            None => (None, text),
        };
        let parts: Vec<&str> = rest.split(',').map(str::trim).collect();
        let (a, b, vip) = match parts.as_slice() {
            [a, b] => (*a, *b, None),
            [a, b, vip] => {
                let vip = vip.parse::<Ipv4Addr>().map_err(|_| ImportError::PairVip {
                    text: text.to_string(),
                    vip: vip.to_string(),
                })?;
                (*a, *b, Some(vip))
            }
            _ => return Err(usage()),
        };
        if a.is_empty() || b.is_empty() || name.as_deref() == Some("") {
            return Err(usage());
        }
        if a == b {
            return Err(ImportError::PairTwice {
                text: text.to_string(),
            });
        }
        Ok(PairSpec {
            name,
            servers: [a.to_string(), b.to_string()],
            vip,
        })
    }
}

/// How the written inventory reaches the nodes.
#[derive(Debug, Clone, Default)]
pub struct SshSettings {
    pub user: String,
    pub identity: Option<String>,
    pub known_hosts: Option<String>,
}

/// Where the inventory's `ovh:` section points.
#[derive(Debug, Clone, Default)]
pub struct OvhSource {
    /// `ovh-eu`, or the URL of a custom endpoint.
    pub endpoint: String,
    /// The ovh.conf given with `--ovh-conf` (absolute), if any.
    pub config: Option<String>,
}

/// The account as OVH listed it.
#[derive(Debug, Clone, Default)]
pub struct Account {
    pub servers: Vec<Server>,
    pub ips: Vec<FailoverIp>,
}

/// A server's node name: the first label of its service name (`ns3001234.ip-51-68-1.eu` ->
/// `ns3001234`), or the whole service name when two servers would share that label.
pub fn node_names(servers: &[Server]) -> Vec<String> {
    let short = |s: &Server| s.name.split('.').next().unwrap_or(&s.name).to_string();
    servers
        .iter()
        .map(|s| {
            let mine = short(s);
            let clash = servers.iter().filter(|o| short(o) == mine).count() > 1;
            if clash || !valid_name(&mine) {
                s.name.clone()
            } else {
                mine
            }
        })
        .collect()
}

/// The inventory text, or a one-line error saying which `--pair` to fix.
pub fn render(
    account: &Account,
    pairs: &[PairSpec],
    ssh: &SshSettings,
    ovh: &OvhSource,
) -> Result<String, ImportError> {
    let names = node_names(&account.servers);
    let find = |wanted: &str| {
        account
            .servers
            .iter()
            .position(|s| s.name == wanted)
            .or_else(|| names.iter().position(|n| n == wanted))
    };
    let known = || names.join(", ");
    let mut used = BTreeSet::new();
    let mut clusters = Vec::new();
    for (n, pair) in pairs.iter().enumerate() {
        let mut members = [0; 2];
        for (slot, wanted) in pair.servers.iter().enumerate() {
            let i = find(wanted).ok_or_else(|| ImportError::NoSuchServer {
                wanted: wanted.clone(),
                known: known(),
            })?;
            if !used.insert(i) {
                return Err(ImportError::ServerInTwoPairs {
                    server: names[i].clone(),
                });
            }
            members[slot] = i;
        }
        let name = pair
            .name
            .clone()
            .unwrap_or_else(|| format!("pair{}", n + 1));
        if !valid_name(&name) {
            return Err(ImportError::BadClusterName { name });
        }
        let held: Vec<&FailoverIp> = account
            .ips
            .iter()
            .filter(|ip| {
                members
                    .iter()
                    .any(|&m| ip.routed_to.as_deref() == Some(account.servers[m].name.as_str()))
            })
            .collect();
        let vip = match pair.vip {
            Some(vip) => {
                if !account.ips.iter().any(|ip| ip.ip == vip) {
                    return Err(ImportError::NotAFailoverIp { name, vip });
                }
                Some(vip)
            }
            None => match held.as_slice() {
                [] => None,
                [one] => Some(one.ip),
                many => {
                    let list: Vec<String> = many.iter().map(|ip| ip.ip.to_string()).collect();
                    return Err(ImportError::WhichVip {
                        name,
                        first: names[members[0]].clone(),
                        second: names[members[1]].clone(),
                        count: many.len(),
                        ips: list.join(", "),
                    });
                }
            },
        };
        clusters.push((name, members, vip));
    }
    let mut names_seen = BTreeSet::new();
    for (name, _, _) in &clusters {
        if names.contains(name) || !names_seen.insert(name.clone()) {
            return Err(ImportError::NameTaken { name: name.clone() });
        }
    }

    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Written by `tandem inventory import --from-ovh` from the OVH account at {}:\n\
         # {} dedicated servers, {} failover IPs. Node names are the first label of each server's\n\
         # OVH service name: rename a node to the server's hostname if it differs (OpenSVC lists\n\
         # nodes by hostname); keep its service_name, which is how OVH's API knows the server.",
        ovh.endpoint,
        account.servers.len(),
        account.ips.len()
    );
    let _ = writeln!(y, "ssh:\n  user: {}", ssh.user);
    match &ssh.identity {
        Some(path) => {
            let _ = writeln!(y, "  identity: {path}");
        }
        None => y.push_str("  # identity: ~/.ssh/id_ed25519\n"),
    }
    match &ssh.known_hosts {
        Some(path) => {
            let _ = writeln!(y, "  known_hosts: {path}");
        }
        None => y.push_str("  # known_hosts: ~/.ssh/known_hosts\n"),
    }
    let _ = writeln!(y, "ovh:\n  endpoint: {}", ovh.endpoint);
    if let Some(config) = &ovh.config {
        let _ = writeln!(y, "  config: {config}");
    }
    y.push_str("clusters:\n");
    for (name, members, vip) in &clusters {
        let _ = writeln!(y, "  {name}:");
        match vip {
            Some(vip) => {
                let routed = account
                    .ips
                    .iter()
                    .find(|ip| ip.ip == *vip)
                    .and_then(|ip| ip.routed_to.as_deref())
                    .unwrap_or("no server");
                let _ = writeln!(y, "    vip: {vip}   # routed to {routed} now");
            }
            None => y.push_str(
                "    # vip: no failover IP is routed to either server: add the pair's here\n",
            ),
        }
        y.push_str("    nodes:\n");
        for &m in members {
            let server = &account.servers[m];
            let _ = writeln!(y, "      {}:", names[m]);
            match &server.ip {
                Some(ip) => {
                    let _ = writeln!(y, "        address: {ip}");
                }
                None => {
                    let _ = writeln!(
                        y,
                        "        address: {}   # OVH gave no IP: check it",
                        server.name
                    );
                }
            }
            let _ = write!(y, "        service_name: {}", server.name);
            match &server.datacenter {
                Some(dc) => {
                    let _ = writeln!(y, "   # datacenter {dc}");
                }
                None => y.push('\n'),
            }
        }
    }
    y.push_str(&leftovers(account, &names, &used, &clusters));
    Ok(y)
}

/// Comments listing the servers in no pair and the failover IPs that are no cluster's VIP, so
/// the file shows the whole account.
fn leftovers(
    account: &Account,
    names: &[String],
    used: &BTreeSet<usize>,
    clusters: &[(String, [usize; 2], Option<Ipv4Addr>)],
) -> String {
    let mut y = String::new();
    let unpaired: Vec<usize> = (0..account.servers.len())
        .filter(|i| !used.contains(i))
        .collect();
    if !unpaired.is_empty() {
        y.push_str(
            "# Servers in no pair (make one with --pair NODE1,NODE2, or add them by hand):\n",
        );
        for i in unpaired {
            let s = &account.servers[i];
            let _ = writeln!(
                y,
                "#   {}: address {}, service_name {}{}",
                names[i],
                s.ip.as_deref().unwrap_or("?"),
                s.name,
                s.datacenter
                    .as_deref()
                    .map(|d| format!(", datacenter {d}"))
                    .unwrap_or_default()
            );
        }
    }
    let vips: BTreeSet<Ipv4Addr> = clusters.iter().filter_map(|c| c.2).collect();
    let spare: Vec<&FailoverIp> = account
        .ips
        .iter()
        .filter(|ip| !vips.contains(&ip.ip))
        .collect();
    if !spare.is_empty() {
        y.push_str("# Failover IPs that are no cluster's VIP:\n");
        for ip in spare {
            let _ = writeln!(
                y,
                "#   {}: routed to {}",
                ip.ip,
                ip.routed_to.as_deref().unwrap_or("no server")
            );
        }
    }
    y
}

/// Without `--pair`: what the account holds, for the user to pick the pairs from.
pub fn listing(account: &Account) -> String {
    let names = node_names(&account.servers);
    let mut y = String::from("NODE  SERVICE_NAME  ADDRESS  DATACENTER  FAILOVER_IPS\n");
    for (i, s) in account.servers.iter().enumerate() {
        let ips: Vec<String> = account
            .ips
            .iter()
            .filter(|ip| ip.routed_to.as_deref() == Some(s.name.as_str()))
            .map(|ip| ip.ip.to_string())
            .collect();
        let _ = writeln!(
            y,
            "{}  {}  {}  {}  {}",
            names[i],
            s.name,
            s.ip.as_deref().unwrap_or("-"),
            s.datacenter.as_deref().unwrap_or("-"),
            if ips.is_empty() {
                "-".to_string()
            } else {
                ips.join(",")
            }
        );
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn server(name: &str, ip: &str) -> Server {
        Server {
            name: name.into(),
            ip: Some(ip.into()),
            reverse: None,
            datacenter: Some("rbx8".into()),
        }
    }

    fn account() -> Account {
        Account {
            servers: vec![
                server("ns1.ip-51-68-1.eu", "51.68.1.10"),
                server("ns2.ip-51-68-2.eu", "51.68.2.10"),
                server("ns3.ip-51-68-3.eu", "51.68.3.10"),
            ],
            ips: vec![
                FailoverIp {
                    ip: Ipv4Addr::new(203, 0, 113, 5),
                    routed_to: Some("ns1.ip-51-68-1.eu".into()),
                },
                FailoverIp {
                    ip: Ipv4Addr::new(203, 0, 113, 9),
                    routed_to: Some("ns3.ip-51-68-3.eu".into()),
                },
            ],
        }
    }

    fn ssh() -> SshSettings {
        SshSettings {
            user: "root".into(),
            ..Default::default()
        }
    }

    fn ovh() -> OvhSource {
        OvhSource {
            endpoint: "ovh-eu".into(),
            config: None,
        }
    }

    #[test]
    fn a_pair_becomes_a_cluster_the_loader_accepts() {
        let pairs = [PairSpec::parse("ns1,ns2.ip-51-68-2.eu").unwrap()];
        let text = render(&account(), &pairs, &ssh(), &ovh()).unwrap();
        let inventory =
            crate::inventory::Inventory::parse(&text, Path::new("/tmp/imported.yml")).unwrap();
        let cluster = inventory.cluster("pair1").unwrap();
        assert_eq!(cluster.vip, Some(Ipv4Addr::new(203, 0, 113, 5)));
        let nodes: Vec<(&str, Option<&str>)> = cluster
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.service_name.as_deref()))
            .collect();
        assert_eq!(
            nodes,
            [
                ("ns1", Some("ns1.ip-51-68-1.eu")),
                ("ns2", Some("ns2.ip-51-68-2.eu"))
            ]
        );
        // Nothing of the account is lost: the third server and the other IP are listed.
        assert!(text.contains("#   ns3: address 51.68.3.10, service_name ns3.ip-51-68-3.eu"));
        assert!(text.contains("#   203.0.113.9: routed to ns3.ip-51-68-3.eu"));
        assert!(!text.contains("203.0.113.5: routed"), "{text}");
    }

    #[test]
    fn bad_pairs_say_what_to_fix() {
        assert!(PairSpec::parse("a").is_err());
        assert!(PairSpec::parse("a,a").is_err());
        assert!(PairSpec::parse("a,b,c,d").is_err());
        assert!(PairSpec::parse("a,b,notanip").is_err());
        let named = PairSpec::parse("web=a,b,203.0.113.5").unwrap();
        assert_eq!(named.name.as_deref(), Some("web"));
        assert_eq!(named.vip, Some(Ipv4Addr::new(203, 0, 113, 5)));

        let e = render(
            &account(),
            &[PairSpec::parse("ns1,ns9").unwrap()],
            &ssh(),
            &ovh(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "--pair: no dedicated server ns9 in this OVH account (its servers: ns1, ns2, ns3)"
        );
        let twice = [
            PairSpec::parse("ns1,ns2").unwrap(),
            PairSpec::parse("ns2,ns3").unwrap(),
        ];
        assert!(
            render(&account(), &twice, &ssh(), &ovh())
                .unwrap_err()
                .to_string()
                .contains("server ns2 is in two pairs")
        );
        let mut two_ips = account();
        two_ips.ips[1].routed_to = Some("ns2.ip-51-68-2.eu".into());
        let e = render(
            &two_ips,
            &[PairSpec::parse("ns1,ns2").unwrap()],
            &ssh(),
            &ovh(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("hold 2 failover IPs (203.0.113.5, 203.0.113.9)"),
            "{e}"
        );
        let chosen = render(
            &two_ips,
            &[PairSpec::parse("ns1,ns2,203.0.113.9").unwrap()],
            &ssh(),
            &ovh(),
        )
        .unwrap();
        assert!(chosen.contains("vip: 203.0.113.9"), "{chosen}");
    }

    #[test]
    fn clashing_short_names_keep_the_service_name() {
        let servers = vec![
            server("ns1.ip-1.eu", "192.0.2.1"),
            server("ns1.ip-2.eu", "192.0.2.2"),
            server("ns5.ip-3.eu", "192.0.2.3"),
        ];
        assert_eq!(node_names(&servers), ["ns1.ip-1.eu", "ns1.ip-2.eu", "ns5"]);
    }
}
