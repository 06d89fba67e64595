//! The closing suggestion of a scan: which users (or groups) to add to a share so that its owners
//! own a given share of the bytes. Only ids that can pass through count: owners, other users or
//! groups of the source, and unknown ids (as raw `uids`/`gids`); system ids and container ids
//! cannot (those are handed back by `--fix-container`).

use serde::Serialize;

use super::{Row, Status};

/// The additions that bring the owners' bytes to the target, greediest first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Cover {
    /// Names of the source to add (`users` or `groups`), most bytes first.
    pub names: Vec<String>,
    /// Ids the source does not know, to add as raw `uids` or `gids`.
    pub ids: Vec<u32>,
    /// Percent of the bytes of ids that can pass through that the owners own now.
    pub now_percent: f64,
    /// ... and with the additions.
    pub then_percent: f64,
}

/// Picks, from `rows` (sorted by bytes, most first), the fewest ids that bring the owners to
/// `percent` of the bytes of ids that can pass through.
pub(crate) fn cover(rows: &[Row], percent: u8) -> Cover {
    let passable =
        |r: &&Row| matches!(r.status, Status::Owner | Status::NotOwner | Status::Unknown);
    let total: u64 = rows.iter().filter(passable).map(|r| r.bytes).sum();
    let mut owned: u64 = rows
        .iter()
        .filter(|r| r.status == Status::Owner)
        .map(|r| r.bytes)
        .sum();
    let share = |bytes: u64| {
        if total == 0 {
            100.0
        } else {
            (bytes as f64 * 1000.0 / total as f64).round() / 10.0
        }
    };
    let now_percent = share(owned);
    let target = u128::from(total) * u128::from(percent.min(100));
    let (mut names, mut ids) = (Vec::new(), Vec::new());
    for r in rows.iter().filter(passable) {
        if u128::from(owned) * 100 >= target {
            break;
        }
        match (r.status, &r.name) {
            (Status::NotOwner, Some(name)) => names.push(name.clone()),
            (Status::Unknown, _) => ids.push(r.id),
            _ => continue,
        }
        owned += r.bytes;
    }
    Cover {
        names,
        ids,
        now_percent,
        then_percent: share(owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u32, name: Option<&str>, bytes: u64, status: Status) -> Row {
        Row {
            id,
            name: name.map(str::to_string),
            entries: 1,
            bytes,
            status,
            inside: None,
            inside_name: None,
            inside_owner: None,
        }
    }

    fn rows() -> Vec<Row> {
        vec![
            row(0, Some("root"), 1000, Status::System),
            row(101_005, None, 900, Status::Container),
            row(1006, Some("bob"), 50, Status::NotOwner),
            row(1005, Some("alice"), 40, Status::Owner),
            row(4242, None, 9, Status::Unknown),
            row(1007, Some("carol"), 1, Status::NotOwner),
        ]
    }

    #[test]
    fn the_fewest_additions_most_bytes_first_at_the_boundary() {
        // Passable bytes: 50 + 40 + 9 + 1 = 100; the owners have 40.
        let c = cover(&rows(), 40);
        assert_eq!((c.names.len(), c.ids.len()), (0, 0));
        assert_eq!(c.now_percent, 40.0);
        let c = cover(&rows(), 41);
        assert_eq!(c.names, ["bob"]);
        assert_eq!(c.then_percent, 90.0);
        let c = cover(&rows(), 90);
        assert_eq!(c.names, ["bob"]);
        let c = cover(&rows(), 91);
        assert_eq!(
            (c.names.as_slice(), c.ids.as_slice()),
            (&["bob".to_string()][..], &[4242][..])
        );
        assert_eq!(c.then_percent, 99.0);
        let c = cover(&rows(), 100);
        assert_eq!(c.names, ["bob", "carol"]);
        assert_eq!(c.ids, [4242]);
        assert_eq!(c.then_percent, 100.0);
    }

    #[test]
    fn system_and_container_bytes_are_never_suggested_and_nothing_is_full() {
        let only = vec![
            row(0, Some("root"), 10, Status::System),
            row(101_005, None, 10, Status::Container),
        ];
        let c = cover(&only, 100);
        assert!(c.names.is_empty() && c.ids.is_empty());
        assert_eq!(c.now_percent, 100.0);
    }
}
