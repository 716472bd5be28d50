//! `initlab run --shard I/N`: a deterministic, balanced share of a run's
//! cells, so that a CI job matrix can spread one run over machines;
//! `initlab merge` puts the shards' reports back together.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::environment::EnvKind;
use crate::scenario::Driver;

/// Shard `index` (from 1) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// More shards than a CI matrix would ever hold; a bound on what a split
/// keeps per shard.
pub const MAX_SHARDS: usize = 1000;

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {s}: give I/N with 1 ≤ I ≤ N ≤ {MAX_SHARDS}, e.g. 2/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count || count > MAX_SHARDS {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a cell costs, relative to a probe run directly: rough shares of the
/// wall time of a default run on a 2-core machine, used only to balance.
pub fn weight(driver: Driver, env: EnvKind) -> u32 {
    let scenario = match driver {
        Driver::Probe | Driver::Orphans => 1,
        Driver::Script => 2,
        Driver::Gunicorn => 3,
        Driver::Control => 8,
    };
    let environment = match env {
        EnvKind::Direct | EnvKind::Pid1 => 1,
        EnvKind::Docker => 2,
    };
    scenario * environment
}

/// The positions in `cells` (each an id and a weight) that fall to `shard`,
/// in their original order. Heaviest first, each cell goes to the lightest
/// shard so far, ties to the lowest-numbered; ties between cells are broken
/// by id, so every job of a matrix computes the same split from the same
/// arguments, and the shards together hold every cell exactly once.
pub fn select(cells: &[(String, u32)], shard: Shard) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.sort_by(|&a, &b| {
        cells[b]
            .1
            .cmp(&cells[a].1)
            .then_with(|| cells[a].0.cmp(&cells[b].0))
    });
    let mut load = vec![0u64; shard.count];
    let mut owner = vec![0usize; cells.len()];
    for i in order {
        let lightest = (0..shard.count).min_by_key(|&s| (load[s], s)).unwrap_or(0);
        load[lightest] += u64::from(cells[i].1);
        owner[i] = lightest;
    }
    (0..cells.len())
        .filter(|&i| owner[i] == shard.index - 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells() -> Vec<(String, u32)> {
        (0..37)
            .map(|i| (format!("cell {i:02}"), [1, 2, 3, 8, 16][i % 5]))
            .collect()
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in [
            "0/4",
            "5/4",
            "2",
            "a/b",
            "1/0",
            "-1/2",
            "",
            "1/1001",
            "1/99999999999999",
        ] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_cover_every_cell_once_and_balance() {
        let cells = cells();
        let total: u32 = cells.iter().map(|c| c.1).sum();
        for count in 1..=6 {
            let mut seen = vec![0; cells.len()];
            let mut loads = Vec::new();
            for index in 1..=count {
                let mine = select(&cells, Shard { index, count });
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "original order");
                loads.push(mine.iter().map(|&i| cells[i].1).sum::<u32>());
                for i in mine {
                    seen[i] += 1;
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{count} shards: {seen:?}");
            let (lo, hi) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
            // Greedy heaviest-first is within the heaviest cell of even.
            assert!(hi - lo <= 16, "{count} shards: loads {loads:?} of {total}");
        }
    }

    #[test]
    fn the_split_does_not_depend_on_the_order_cells_are_listed_in() {
        let cells = cells();
        let mut reversed = cells.clone();
        reversed.reverse();
        let shard = Shard { index: 2, count: 3 };
        let mut a: Vec<&String> = select(&cells, shard).iter().map(|&i| &cells[i].0).collect();
        let mut b: Vec<&String> = select(&reversed, shard)
            .iter()
            .map(|&i| &reversed[i].0)
            .collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn more_shards_than_cells_leaves_some_empty() {
        let cells = vec![("only".to_string(), 3)];
        assert_eq!(select(&cells, Shard { index: 1, count: 3 }), vec![0]);
        assert!(select(&cells, Shard { index: 3, count: 3 }).is_empty());
    }
}
