//! "Did you mean": the closest of the known names to a misspelt one.

/// The candidate closest to `word` by edit distance (transpositions count as one edit), when
/// it is within two edits and shorter than the candidate itself (else every short word would
/// match every other).
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|candidate| (strsim::damerau_levenshtein(word, candidate), candidate))
        .filter(|&(distance, candidate)| {
            distance <= 2 && distance < candidate.chars().count().max(2)
        })
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn a_typo_finds_its_key_and_a_stranger_finds_nothing() {
        let keys = ["forks", "inventory", "user"];
        assert_eq!(closest("forkz", keys.into_iter()), Some("forks"));
        assert_eq!(closest("invnetory", keys.into_iter()), Some("inventory"));
        assert_eq!(closest("colour", keys.into_iter()), None);
        // Two edits turn any two-letter word into another: too short to suggest.
        assert_eq!(closest("us", ["at"].into_iter()), None);
    }
}
