//! Every bound on what a server may send, in one place, with defaults that no real directory
//! meets: a broken or hostile server is refused with an error before it can hold idfed's
//! memory without bound. (Time is bounded by the source's `timeout_secs`, per operation.)

/// The bounds a connection and a paged search read within.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The largest message read, in bytes: its length header is refused beyond it, before
    /// anything is read for it. Default 32 MiB: a group of about a million `memberUid`
    /// values, or 400,000 member DNs, in one entry.
    pub max_message: usize,
    /// The most bytes one page of a search may take (all its messages up to its
    /// SearchResultDone; the page is held whole while the next one is asked for). Default
    /// 48 MiB: 500 entries (`page_size`) of 98 KiB each. (Two connections each hold a page and
    /// its buffer while it grows: about three times this at the peak, under 256 MB in all.)
    pub max_page: usize,
    /// A paged search may have at most one page per distinct entry it returned, plus this
    /// many: pages that bring no new entry. A paging cookie that never ends (or repeats
    /// entries forever) is refused. Default 1,000.
    pub extra_pages: u64,
    /// Bytes read from the socket at a time, at least (a message's missing part, at most).
    /// Default 64 KiB.
    pub read_chunk: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message: 32 << 20,
            max_page: 48 << 20,
            extra_pages: 1_000,
            read_chunk: 64 << 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Limits;
    use std::path::Path;

    /// The README's table of bounds, the example configuration and `idfed.toml(5)` state the
    /// defaults as they are here (the page bound changed once, from 64 MiB to 48 MiB: its figures
    /// with it).
    #[test]
    fn the_documented_bounds_are_the_defaults() {
        let Limits {
            max_message,
            max_page,
            extra_pages,
            ..
        } = Limits::default();
        let (message, page) = (max_message >> 20, max_page >> 20);
        assert_eq!((message << 20, page << 20), (max_message, max_page));
        let read = |file: &str| {
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
        };
        let readme = read("README.md");
        let extra = format!("{},{:03}", extra_pages / 1000, extra_pages % 1000);
        for row in [
            format!("| one message | {message} MiB |"),
            format!(
                "| one page | {page} MiB | `page_size` entries (500) of {} KiB each |",
                (max_page >> 10) / 500
            ),
            format!("| pages of one search | distinct entries + {extra} |"),
        ] {
            assert!(readme.contains(&row), "README.md lacks `{row}`");
        }
        let example = read("config/idfed.example.toml");
        let line = format!(
            "# {message} MiB per message, {page} MiB per page, at most {extra} more pages than \
             distinct entries"
        );
        assert!(example.contains(&line), "the example lacks `{line}`");
        let man = crate::cmd::docs::config_page().replace('\n', " ");
        let line = format!(
            "{message} MiB per message, {page} MiB per page, at most {extra} more pages than \
             distinct entries"
        );
        assert!(man.contains(&line), "idfed.toml(5) lacks `{line}`");
    }
}
