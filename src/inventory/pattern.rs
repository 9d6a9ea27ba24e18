//! `--limit` host patterns, a small subset of Ansible's.
//!
//! A pattern is terms separated by `,` or `:`. A term is a node name, a cluster name (all its
//! nodes), `all` or `*` (every node), or a glob (`*`, `?`, `[...]`) matched against node and
//! cluster names. `!TERM` removes nodes, `&TERM` keeps only nodes also in TERM. As in Ansible,
//! plain terms are applied first (every node if there is none), then `&`, then `!`, so the
//! order of terms does not matter.
//!
//! A term that matches nothing is an error rather than a no-op: a typo in `--limit` must not
//! silently run on more (a misspelt `!db1`) or fewer nodes than meant.

use globset::GlobBuilder;

use super::{Inventory, Node, PatternError};

/// How many names an error lists before "...": enough to spot a typo, short enough for a line.
const LISTED_NAMES: usize = 10;

pub(super) fn select<'a>(
    inventory: &'a Inventory,
    pattern: &str,
) -> Result<Vec<&'a Node>, PatternError> {
    let nodes: Vec<&Node> = inventory.nodes().collect();

    let mut regular = Vec::new();
    let mut intersect = Vec::new();
    let mut exclude = Vec::new();
    for term in pattern
        .split([',', ':'])
        .map(str::trim)
        .filter(|term| !term.is_empty())
    {
        let (list, bare) = if let Some(bare) = term.strip_prefix('!') {
            (&mut exclude, bare)
        } else if let Some(bare) = term.strip_prefix('&') {
            (&mut intersect, bare)
        } else {
            (&mut regular, term)
        };
        if bare.is_empty() {
            return Err(PatternError::EmptyTerm {
                term: term.to_string(),
            });
        }
        list.push(matches(inventory, &nodes, bare)?);
    }
    if regular.is_empty() && intersect.is_empty() && exclude.is_empty() {
        return Err(PatternError::Empty);
    }

    let mut selected = if regular.is_empty() {
        vec![true; nodes.len()]
    } else {
        let mut union = vec![false; nodes.len()];
        for set in &regular {
            union.iter_mut().zip(set).for_each(|(u, &s)| *u |= s);
        }
        union
    };
    for set in &intersect {
        selected.iter_mut().zip(set).for_each(|(u, &s)| *u &= s);
    }
    for set in &exclude {
        selected.iter_mut().zip(set).for_each(|(u, &s)| *u &= !s);
    }

    let chosen: Vec<&Node> = nodes
        .into_iter()
        .zip(selected)
        .filter_map(|(node, keep)| keep.then_some(node))
        .collect();
    if chosen.is_empty() {
        return Err(PatternError::NothingSelected {
            pattern: pattern.trim().to_string(),
        });
    }
    Ok(chosen)
}

/// The nodes one bare term (no `!`/`&`) matches, as a mask over `nodes`.
fn matches(inventory: &Inventory, nodes: &[&Node], term: &str) -> Result<Vec<bool>, PatternError> {
    let mask: Vec<bool> = if term == "all" || term == "*" {
        vec![true; nodes.len()]
    } else if term.contains(['*', '?', '[']) {
        let glob = GlobBuilder::new(term)
            .literal_separator(false)
            .build()
            .map_err(|err| PatternError::BadGlob {
                term: term.to_string(),
                reason: err.kind().to_string(),
            })?
            .compile_matcher();
        nodes
            .iter()
            .map(|node| glob.is_match(&node.name) || glob.is_match(&node.cluster))
            .collect()
    } else {
        nodes
            .iter()
            .map(|node| node.name == term || node.cluster == term)
            .collect()
    };
    if !mask.contains(&true) {
        return Err(PatternError::NoMatch {
            term: term.to_string(),
            nodes: listing(inventory.nodes().map(|node| node.name.as_str())),
            clusters: listing(
                inventory
                    .clusters
                    .iter()
                    .map(|cluster| cluster.name.as_str()),
            ),
        });
    }
    Ok(mask)
}

fn listing<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    let mut text = names[..names.len().min(LISTED_NAMES)].join(", ");
    if names.len() > LISTED_NAMES {
        text.push_str(&format!(", ... ({} more)", names.len() - LISTED_NAMES));
    }
    text
}
