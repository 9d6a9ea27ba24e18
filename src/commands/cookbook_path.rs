//! Where `tandem config` finds the cookbook playbook when `--playbook` (or tandem.toml's
//! `playbook`) does not say: beside the inventory, as the checkout lays them out
//! (`inventories/x.yml` and `playbooks/ovh-lxc-cluster.yml`), not wherever tandem was started.

use std::path::{Path, PathBuf};

use crate::error::Error;

const COOKBOOK: &str = "playbooks/ovh-lxc-cluster.yml";

/// `given` as is; else the first cookbook that exists in the inventory's directory, its parent,
/// then the current directory.
pub fn find(given: Option<&Path>, inventory: &Path) -> Result<PathBuf, Error> {
    find_from(given, inventory, Path::new(""))
}

/// `find`, with the current directory given (tests run in the checkout, which has one).
fn find_from(given: Option<&Path>, inventory: &Path, cwd: &Path) -> Result<PathBuf, Error> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    let candidates = candidates(inventory, cwd);
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    Err(Error::NoCookbook { tried: candidates })
}

fn candidates(inventory: &Path, cwd: &Path) -> Vec<PathBuf> {
    let dir = match inventory.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut out = vec![dir.join(COOKBOOK), dir.join("..").join(COOKBOOK)];
    let here = cwd.join(COOKBOOK);
    if !out.contains(&here) {
        out.push(here);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookbook_beside_or_above_the_inventory_is_found_not_the_cwds() {
        let root = std::env::temp_dir().join(format!("tandem-cookbook-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("checkout/inventories")).unwrap();
        std::fs::create_dir_all(root.join("checkout/playbooks")).unwrap();
        std::fs::write(
            root.join("checkout/playbooks/ovh-lxc-cluster.yml"),
            "steps: []\n",
        )
        .unwrap();
        let inventory = root.join("checkout/inventories/lab.yml");
        let found = find_from(None, &inventory, &root).unwrap();
        assert_eq!(
            found,
            root.join("checkout/inventories/../playbooks/ovh-lxc-cluster.yml")
        );

        // Beside it wins over above it.
        std::fs::create_dir_all(root.join("checkout/inventories/playbooks")).unwrap();
        std::fs::write(
            root.join("checkout/inventories/playbooks/ovh-lxc-cluster.yml"),
            "",
        )
        .unwrap();
        assert_eq!(
            find_from(None, &inventory, &root).unwrap(),
            root.join("checkout/inventories/playbooks/ovh-lxc-cluster.yml")
        );

        // Given: taken as is, even when the default exists.
        assert_eq!(
            find(Some(Path::new("x.yml")), &inventory).unwrap(),
            PathBuf::from("x.yml")
        );

        // None anywhere: the message names every place tried and both ways to say.
        let lone = root.join("elsewhere/inv.yml");
        let err = find_from(None, &lone, &root).unwrap_err().to_string();
        assert!(
            err.contains(
                &root
                    .join("elsewhere/playbooks/ovh-lxc-cluster.yml")
                    .display()
                    .to_string()
            ),
            "{err}"
        );
        assert!(
            err.contains("--playbook") && err.contains("tandem.toml"),
            "{err}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
