//! Did-you-mean: the closest known name to a mistyped one (just's `suggestion.rs`). Used by the
//! configuration (share names) and the resolver (owner names); it depends on neither.

/// The name among `candidates` closest to `name`, when it is close enough to be a typo.
pub(crate) fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn closest_name() {
        let names = ["alice", "bob", "research"];
        assert_eq!(
            closest("alise", names.into_iter()).as_deref(),
            Some("alice")
        );
        assert_eq!(
            closest("reserch", names.into_iter()).as_deref(),
            Some("research")
        );
        assert_eq!(closest("zed", names.into_iter()), None);
    }
}
