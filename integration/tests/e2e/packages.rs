//! The host must hold every package a lab node may ask for (a node has no route out and sees the
//! host's packages through its overlay): setup.sh installs what `packages.list` names, so that
//! list must name everything the cookbook and the OpenSVC agent install or need.

use std::collections::BTreeSet;
use std::path::Path;

fn listed() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/packages.list");
    let text = std::fs::read_to_string(&path).expect("integration/scripts/packages.list");
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn setup_installs_every_package_the_cookbook_asks_for() {
    let playbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("../playbooks/ovh-lxc-cluster.yml");
    let playbook = tandem::playbook::load(&playbook).expect("the cookbook playbook loads");
    let wanted = playbook
        .vars
        .get("packages")
        .expect("the cookbook has a `packages` default");
    let wanted: Vec<&str> = wanted
        .as_array()
        .expect("`packages` is a list")
        .iter()
        .map(|p| p.as_str().expect("a package name"))
        .collect();
    assert!(!wanted.is_empty());
    let listed = listed();
    let missing: Vec<&&str> = wanted.iter().filter(|p| !listed.contains(**p)).collect();
    assert!(
        missing.is_empty(),
        "the cookbook's `packages` default names {missing:?}, which integration/scripts/packages.list \
         does not: a lab node would run apt-get for them and fail (no route out)"
    );
}

#[test]
fn setup_installs_what_the_opensvc_agent_needs() {
    // ../shared/opensvc/README.md: python3, psmisc, and ping for the ip resource.
    let listed = listed();
    for package in ["python3", "psmisc", "iputils-ping"] {
        assert!(listed.contains(package), "packages.list lacks {package}");
    }
}
