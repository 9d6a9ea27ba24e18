//! Facts: what a node says about itself in the first frame of its first shell, pipelined with
//! the first steps (no round trip of their own). The base facts (os, kernel, hostname, cgroup)
//! are shell builtins and /proc reads, always sent. The others cost more (a process or two, a
//! walk of /sys) and are asked for only when something the run renders reads them
//! (`facts.memory_mb` in a step, a var or a template file): [`wanted`] decides once per run.
//!
//! A fact travels as one line of text (`tandem_fact KEY VALUE`); [`shape`] turns the lines
//! into what templates read: numbers, lists, maps.

use std::collections::BTreeSet;
use std::path::Path;

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::inventory::Inventory;
use crate::playbook::Playbook;
use crate::template::Templates;

/// Facts every host reports at the start, in the same round trip as the first steps. Only
/// shell builtins and /proc reads: no process is started for them.
pub const FACTS_SCRIPT: &str = r#"if [ -r /etc/os-release ]; then . /etc/os-release; fi
tandem_fact os_id "${ID:-unknown}"
tandem_fact os_version "${VERSION_ID:-}"
tandem_fact os_codename "${VERSION_CODENAME:-}"
read -r k </proc/sys/kernel/osrelease; tandem_fact kernel "$k"
read -r h </proc/sys/kernel/hostname; tandem_fact hostname "$h"
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then tandem_fact cgroup 2; else tandem_fact cgroup 1; fi
"#;

/// `tandem ping`'s script, run alone (no prelude): [`FACTS_SCRIPT`] with a `tandem_fact` that
/// keeps the hostname and the kernel, then three lines: the hostname, the kernel (`uname -s`
/// and its release, as `uname -sr`), the OS (os-release's PRETTY_NAME, `uname -o` without one).
pub fn summary_script() -> String {
    format!(
        "tandem_fact() {{ case $1 in hostname) h=$2 ;; kernel) k=$2 ;; esac; }}\n\
         {FACTS_SCRIPT}\
         echo \"$h\"; echo \"$(uname -s) $k\"\n\
         if [ -r /etc/os-release ]; then echo \"${{PRETTY_NAME:-}}\"; else uname -o; fi\n"
    )
}

/// A group of facts gathered together, sent only when one of its names is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Memory,
    Network,
    Disks,
    Mounts,
    Init,
    Opensvc,
}

impl Group {
    pub const ALL: [Group; 6] = [
        Group::Memory,
        Group::Network,
        Group::Disks,
        Group::Mounts,
        Group::Init,
        Group::Opensvc,
    ];

    /// The names templates read (`facts.NAME`).
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Group::Memory => &["memory_mb", "memory_available_mb"],
            Group::Network => &["interfaces", "addresses"],
            Group::Disks => &["disks"],
            Group::Mounts => &["mounts"],
            Group::Init => &["init_system"],
            Group::Opensvc => &["opensvc_installed"],
        }
    }

    fn script(self) -> &'static str {
        match self {
            // /proc reads only.
            Group::Memory => {
                r#"while read -r k v _; do case $k in MemTotal:) tandem_fact memory_kb "$v" ;; MemAvailable:) tandem_fact memory_available_kb "$v" ;; esac; done </proc/meminfo
"#
            }
            // `ip -j` (iproute2, on every Debian): names, state, MTU, MAC and addresses in one
            // read; the names from /sys when it is missing.
            Group::Network => {
                r#"tandem_fact ip_json "$(ip -j addr show 2>/dev/null | tr -d '\n')"
n=; for i in /sys/class/net/*; do [ -e "$i" ] && n="$n ${i##*/}"; done; tandem_fact net_names "$n"
"#
            }
            // /sys reads only: each block device's size in 512-byte sectors.
            Group::Disks => {
                r#"d=; for b in /sys/block/*; do [ -r "$b/size" ] || continue; read -r s <"$b/size"; r=0; if [ -r "$b/removable" ]; then read -r r <"$b/removable"; fi; d="$d${b##*/} $s $r	"; done; tandem_fact disks "$d"
"#
            }
            // The mount table (pseudo file systems left out) and df's sizes, one line each,
            // records split by tabs (the mount table escapes its own).
            Group::Mounts => {
                r#"m=; while read -r dev mnt fs opts _; do case $fs in proc|sysfs|cgroup|cgroup2|devpts|mqueue|debugfs|tracefs|securityfs|pstore|bpf|configfs|fusectl|hugetlbfs|autofs|binfmt_misc|rpc_pipefs|nsfs|efivarfs|devtmpfs) continue ;; esac; m="$m$dev $mnt $fs $opts	"; done </proc/self/mounts; tandem_fact mounts "$m"
tandem_fact df "$(df -Pk 2>/dev/null | tr '\n' '\t')"
"#
            }
            Group::Init => {
                r#"if [ -d /run/systemd/system ]; then tandem_fact init_system systemd; elif [ -r /proc/1/comm ]; then read -r c </proc/1/comm; tandem_fact init_system "$c"; else tandem_fact init_system unknown; fi
"#
            }
            // The agent's command (v2 and v3 install `om` in the PATH).
            Group::Opensvc => {
                r#"if command -v om >/dev/null 2>&1; then tandem_fact opensvc_installed 1; else tandem_fact opensvc_installed 0; fi
"#
            }
        }
    }
}

/// Every fact name templates may read: the base ones and every group's.
pub fn known_names() -> Vec<&'static str> {
    let mut names = vec![
        "os_id",
        "os_version",
        "os_codename",
        "kernel",
        "hostname",
        "cgroup",
    ];
    for group in Group::ALL {
        names.extend(group.names());
    }
    names
}

/// The facts frame for `groups`: the base facts, then each group's lines.
pub fn script(groups: &BTreeSet<Group>) -> String {
    let mut script = FACTS_SCRIPT.to_string();
    for group in groups {
        script.push_str(group.script());
    }
    script
}

/// The groups the run reads: from `facts.NAME` anywhere a node's rendering may look (steps,
/// handlers, vars at every level, `-e`, template files); `facts` read as a whole (`{{ facts }}`,
/// `facts[name]`) asks for all of them.
pub fn wanted(
    inventory: &Inventory,
    playbook: &Playbook,
    templates: &Templates,
) -> BTreeSet<Group> {
    let reads = super::reads::Reads {
        templates,
        dotted: true,
    };
    let mut paths = BTreeSet::new();
    for vars in super::reads::var_levels(inventory, playbook) {
        for value in vars.values() {
            paths.extend(reads.args(value));
        }
    }
    for step in playbook.steps.iter().chain(&playbook.handlers) {
        paths.extend(reads.step(step));
        for value in step.vars.values().chain(step.defaults.values()) {
            paths.extend(reads.args(value));
        }
        if let Some(expr) = &step.changed_when {
            paths.extend(reads.expr(expr));
        }
        // A template file read at run time: what it reads counts too.
        if step.module == "template"
            && let Some(src) = step.args.get("src").and_then(Value::as_str)
            && !crate::template::has_template_syntax(src)
        {
            let dir = step.location.file.parent().unwrap_or(Path::new(""));
            if let Ok(text) = std::fs::read_to_string(dir.join(src)) {
                paths.extend(templates.nested_references_in_str(&text));
            }
        }
    }
    groups_read(&paths)
}

/// The groups that dotted names (`facts.memory_mb`, `facts`) read.
fn groups_read(paths: &BTreeSet<String>) -> BTreeSet<Group> {
    let mut groups = BTreeSet::new();
    for path in paths {
        let mut parts = path.split('.');
        if parts.next() != Some("facts") {
            continue;
        }
        match parts.next() {
            None => return Group::ALL.into_iter().collect(),
            Some(name) => {
                groups.extend(Group::ALL.into_iter().filter(|g| g.names().contains(&name)))
            }
        }
    }
    groups
}

/// The facts as templates read them, from the lines the node sent.
pub fn shape(raw: IndexMap<String, String>) -> Map<String, Value> {
    let mut facts = Map::new();
    for (key, value) in &raw {
        match key.as_str() {
            "memory_kb" => {
                facts.insert("memory_mb".into(), json!(kib_to_mib(value)));
            }
            "memory_available_kb" => {
                facts.insert("memory_available_mb".into(), json!(kib_to_mib(value)));
            }
            "ip_json" | "net_names" | "df" => {}
            "disks" => {
                facts.insert("disks".into(), disks(value));
            }
            "mounts" => {
                let sizes = raw.get("df").map(|df| df_sizes(df)).unwrap_or_default();
                facts.insert("mounts".into(), mounts(value, &sizes));
            }
            "opensvc_installed" => {
                facts.insert("opensvc_installed".into(), Value::Bool(value == "1"));
            }
            _ => {
                facts.insert(key.clone(), Value::from(value.clone()));
            }
        }
    }
    if raw.contains_key("ip_json") || raw.contains_key("net_names") {
        let (interfaces, addresses) = network(
            raw.get("ip_json").map(String::as_str).unwrap_or_default(),
            raw.get("net_names").map(String::as_str).unwrap_or_default(),
        );
        facts.insert("interfaces".into(), interfaces);
        facts.insert("addresses".into(), addresses);
    }
    facts
}

fn kib_to_mib(text: &str) -> u64 {
    text.trim().parse::<u64>().unwrap_or(0) / 1024
}

/// `interfaces` (name -> {up, mtu, mac, ipv4, ipv6, addresses as CIDR}) and `addresses` (every
/// address not on loopback nor link-local: what other machines may reach the node at).
fn network(ip_json: &str, names: &str) -> (Value, Value) {
    let mut interfaces = Map::new();
    let mut addresses = Vec::new();
    let parsed: Option<Vec<Value>> = serde_json::from_str(ip_json).ok();
    match parsed {
        Some(links) => {
            for link in links {
                let Some(name) = link.get("ifname").and_then(Value::as_str) else {
                    continue;
                };
                let flags: Vec<&str> = link
                    .get("flags")
                    .and_then(Value::as_array)
                    .map(|f| f.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let (mut v4, mut v6, mut cidrs) = (Vec::new(), Vec::new(), Vec::new());
                for info in link
                    .get("addr_info")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let Some(local) = info.get("local").and_then(Value::as_str) else {
                        continue;
                    };
                    let prefix = info.get("prefixlen").and_then(Value::as_u64).unwrap_or(0);
                    cidrs.push(Value::from(format!("{local}/{prefix}")));
                    let scope = info.get("scope").and_then(Value::as_str).unwrap_or("");
                    let reachable = scope == "global";
                    match info.get("family").and_then(Value::as_str) {
                        Some("inet") => v4.push(Value::from(local)),
                        Some("inet6") => v6.push(Value::from(local)),
                        _ => continue,
                    }
                    if reachable {
                        addresses.push(Value::from(local));
                    }
                }
                interfaces.insert(
                    name.to_string(),
                    json!({
                        "up": flags.contains(&"UP"),
                        "mtu": link.get("mtu").cloned().unwrap_or(Value::Null),
                        "mac": link.get("address").cloned().unwrap_or(Value::Null),
                        "ipv4": v4,
                        "ipv6": v6,
                        "addresses": cidrs,
                    }),
                );
            }
        }
        // No `ip` there: the names only.
        None => {
            for name in names.split_whitespace() {
                interfaces.insert(
                    name.to_string(),
                    json!({"up": Value::Null, "mtu": Value::Null, "mac": Value::Null,
                           "ipv4": [], "ipv6": [], "addresses": []}),
                );
            }
        }
    }
    (Value::Object(interfaces), Value::Array(addresses))
}

/// `name sectors removable` records: size in MiB (sectors are 512 bytes); devices of size 0
/// (unused loop devices) left out.
fn disks(text: &str) -> Value {
    let mut out = Vec::new();
    for record in text.split('\t') {
        let fields: Vec<&str> = record.split_whitespace().collect();
        let [name, sectors, removable] = fields[..] else {
            continue;
        };
        let sectors: u64 = sectors.parse().unwrap_or(0);
        if sectors == 0 {
            continue;
        }
        out.push(json!({
            "name": name,
            "size_mb": sectors / 2048,
            "removable": removable == "1",
        }));
    }
    Value::Array(out)
}

/// df -Pk's lines: mount point -> (size, available) in MiB.
fn df_sizes(text: &str) -> IndexMap<String, (u64, u64)> {
    let mut out = IndexMap::new();
    for line in text.split('\t').skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 6 {
            continue;
        }
        let size: u64 = fields[1].parse().unwrap_or(0);
        let available: u64 = fields[3].parse().unwrap_or(0);
        out.insert(fields[5..].join(" "), (size / 1024, available / 1024));
    }
    out
}

/// `device mount fstype options` records of the mount table, with df's sizes where it gave
/// them.
fn mounts(text: &str, sizes: &IndexMap<String, (u64, u64)>) -> Value {
    let mut out = Vec::new();
    for record in text.split('\t') {
        let fields: Vec<&str> = record.split(' ').collect();
        let [device, mount, fstype, options] = fields[..] else {
            continue;
        };
        let mount = unescape(mount);
        let (size, available) = match sizes.get(&mount) {
            Some((size, available)) => (json!(size), json!(available)),
            None => (Value::Null, Value::Null),
        };
        out.push(json!({
            "device": unescape(device),
            "mount": mount,
            "fstype": fstype,
            "options": options.split(',').collect::<Vec<_>>(),
            "size_mb": size,
            "available_mb": available,
        }));
    }
    Value::Array(out)
}

/// The mount table's octal escapes (`\040` for a space).
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let code =
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_the_groups_read_are_gathered_and_facts_as_a_whole_reads_all() {
        assert_eq!(
            groups_read(&set(&[
                "facts.memory_mb",
                "facts.os_id",
                "probe.facts.disks"
            ])),
            [Group::Memory].into_iter().collect()
        );
        assert_eq!(groups_read(&set(&["facts.os_id", "node"])), BTreeSet::new());
        assert_eq!(groups_read(&set(&["facts"])).len(), Group::ALL.len());
        let all: BTreeSet<Group> = Group::ALL.into_iter().collect();
        let text = script(&all);
        assert!(text.starts_with(FACTS_SCRIPT));
        assert!(
            text.contains("MemTotal") && text.contains("ip -j addr"),
            "{text}"
        );
        assert_eq!(script(&BTreeSet::new()), FACTS_SCRIPT);
    }

    #[test]
    fn the_lines_a_node_sends_become_numbers_lists_and_maps() {
        let ip = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],"mtu":65536,"address":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]},{"ifindex":2,"ifname":"eth0","flags":["BROADCAST","UP"],"mtu":1500,"address":"52:54:00:12:34:56","addr_info":[{"family":"inet","local":"198.18.3.11","prefixlen":24,"scope":"global"},{"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}]}]"#;
        let raw: IndexMap<String, String> = [
            ("os_id", "debian"),
            ("memory_kb", "2048000"),
            ("memory_available_kb", "1024000"),
            ("ip_json", ip),
            ("net_names", " eth0 lo"),
            ("disks", "vda 41943040 0\tloop0 0 0\tsr0 2048 1\t"),
            (
                "mounts",
                "/dev/vda1 / ext4 rw,relatime\t/dev/vdb1 /srv/my\\040data xfs rw\t",
            ),
            (
                "df",
                "Filesystem 1024-blocks Used Available Capacity Mounted on\t/dev/vda1 20480000 1 10240000 1% /\t",
            ),
            ("opensvc_installed", "0"),
            ("init_system", "systemd"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let facts = Value::Object(shape(raw));
        assert_eq!(facts["os_id"], "debian");
        assert_eq!(facts["memory_mb"], 2000);
        assert_eq!(facts["memory_available_mb"], 1000);
        assert_eq!(facts["addresses"], json!(["198.18.3.11"]));
        assert_eq!(facts["interfaces"]["eth0"]["ipv4"], json!(["198.18.3.11"]));
        assert_eq!(facts["interfaces"]["eth0"]["ipv6"], json!(["fe80::1"]));
        assert_eq!(facts["interfaces"]["eth0"]["mtu"], 1500);
        assert_eq!(facts["interfaces"]["lo"]["up"], true);
        assert_eq!(
            facts["disks"],
            json!([{"name": "vda", "size_mb": 20480, "removable": false},
                   {"name": "sr0", "size_mb": 1, "removable": true}])
        );
        assert_eq!(facts["mounts"][0]["mount"], "/");
        assert_eq!(facts["mounts"][0]["size_mb"], 20000);
        assert_eq!(facts["mounts"][0]["available_mb"], 10000);
        assert_eq!(facts["mounts"][1]["mount"], "/srv/my data");
        assert_eq!(facts["mounts"][1]["size_mb"], Value::Null);
        assert_eq!(facts["mounts"][1]["options"], json!(["rw"]));
        assert_eq!(facts["opensvc_installed"], false);
        assert_eq!(facts["init_system"], "systemd");
        assert!(facts.get("ip_json").is_none() && facts.get("df").is_none());
    }

    #[test]
    fn without_ip_the_interfaces_are_named_from_sys() {
        let (interfaces, addresses) = network("", " eth0 lo");
        assert_eq!(interfaces["eth0"]["ipv4"], json!([]));
        assert!(interfaces.get("lo").is_some());
        assert_eq!(addresses, json!([]));
    }
}
