//! `initlab bench`: what a user choosing an init cares about, measured side
//! by side with its peers in one run; every figure of initlab-init is also
//! given as a ratio to the best peer on that figure in the same run.

mod cgroup;
mod cost;
mod helpers;
mod interval;
mod measure;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cell::RunCtx;
use crate::variant::Variant;

pub use helpers::{helper_catch, helper_orphans};
use measure::{fmt_stats, percentile, Init, Memory, Placement, Stats};

/// How much to measure: the full benchmark, or a smoke run at tiny sizes.
pub struct Sizes {
    /// The inits take turns, pass after pass, each turn in a shuffled order,
    /// so that a change in the machine's load falls on all of them alike.
    pub passes: usize,
    /// Totals over all passes.
    pub spawn_runs: usize,
    pub orphans: usize,
    pub signal_rounds: usize,
    /// Fresh inits the latency rounds are spread over.
    pub signal_processes: usize,
    pub cell_runs: usize,
    /// Unrelated processes on the host while the harness's own cost is
    /// measured again.
    pub crowd: usize,
}

impl Sizes {
    pub const FULL: Sizes = Sizes {
        passes: 5,
        spawn_runs: 200,
        orphans: 20_000,
        signal_rounds: 400,
        signal_processes: 50,
        cell_runs: 3,
        crowd: 2_000,
    };
    pub const QUICK: Sizes = Sizes {
        passes: 1,
        spawn_runs: 5,
        orphans: 200,
        signal_rounds: 6,
        signal_processes: 2,
        cell_runs: 1,
        crowd: 100,
    };
}

const OURS: &str = "initlab-init";
/// The inits initlab-init is held against.
const PEERS: [&str; 3] = ["tini", "dumb-init", "catatonit"];

fn inits(ours: &Path, user: &[Variant]) -> Vec<Init> {
    let init = |name: &str, path: Option<PathBuf>, args: &[&str]| Init {
        name: name.to_string(),
        path,
        args: args.iter().map(|a| a.to_string()).collect(),
    };
    let find = |n: &str| which::which(n).ok();
    let mut all = vec![
        init("none", None, &[]),
        // A long grace: the latency rounds send SIGTERM many times.
        init(OURS, Some(ours.to_path_buf()), &["--grace", "3600", "--"]),
        init("tini", find("tini"), &["-s", "--"]),
        init("dumb-init", find("dumb-init"), &[]),
        init("catatonit", find("catatonit"), &["--"]),
    ];
    // The user's own (`--init`, `--variants`) are measured beside them; one
    // named as a built-in one replaces it.
    for v in user.iter().filter(|v| !v.docker_init) {
        let Some((program, args)) = v.prefix.split_first() else {
            continue;
        };
        let given = Init {
            name: v.name.clone(),
            path: find(program),
            args: args.to_vec(),
        };
        match all.iter_mut().find(|i| i.name == v.name) {
            Some(known) => *known = given,
            None => all.push(given),
        }
    }
    all
}

/// Everything measured of one init in one environment; in JSON, every
/// figure's name carries its unit.
#[derive(Serialize)]
struct Row {
    #[serde(rename = "init")]
    name: String,
    env: &'static str,
    /// False for a peer not installed here: nothing else was measured.
    installed: bool,
    #[serde(rename = "spawn_ms")]
    spawn: Option<Stats>,
    /// The median spawn over that of the child alone (`none`).
    spawn_vs_bare: Option<f64>,
    #[serde(rename = "sigterm_latency_us")]
    latency: Option<Stats>,
    #[serde(rename = "sigterm_latency_p90_us")]
    latency_p90: Option<f64>,
    /// The same rounds by where the harness, the init and its child were.
    #[serde(rename = "sigterm_latency_by_placement")]
    by_placement: Vec<PlacementStats>,
    /// Orphans reaped per second, one figure per pass.
    #[serde(rename = "orphans_reaped_per_second")]
    reaping: Option<Stats>,
    /// The init's CPU time over each pass's burst, in ms.
    #[serde(rename = "init_cpu_for_burst_ms")]
    reaping_cpu: Option<Stats>,
    /// The most zombies any pass left.
    zombies_left: Option<u64>,
    #[serde(rename = "memory_kb")]
    memory: Option<Memory>,
    /// The init's CPU time per forwarded SIGTERM, one figure per life: its
    /// own share of the latency, which also holds the wakes of the init
    /// and the child.
    #[serde(rename = "init_cpu_per_forward_us")]
    cpu_per_forward: Option<Stats>,
    /// Pages of code, data and stack the init touched to forward one
    /// SIGTERM, median over its lives: what a wake on an idle CPU finds cold.
    #[serde(rename = "pages_touched_per_forward")]
    pages_per_forward: Option<f64>,
    binary_kb: Option<u64>,
    /// Whether the binary runs without a dynamic loader and libraries.
    binary_static: bool,
    /// The samples behind the medians, for their intervals.
    #[serde(skip)]
    draws: Draws,
}

/// The samples of timed figures in the units they were drawn in: one init's
/// life for latency, one run for spawn, one pass for the burst.
#[derive(Default)]
struct Draws {
    spawn: Vec<Vec<f64>>,
    latency: Vec<Vec<f64>>,
    reaping: Vec<Vec<f64>>,
    reaping_cpu: Vec<Vec<f64>>,
}

/// One latency round and where the three processes were before it.
struct Placed {
    placement: Placement,
    us: f64,
}

/// Latency rounds in one placement.
#[derive(Clone, Copy, Serialize)]
struct PlacementStats {
    placement: Placement,
    rounds: usize,
    #[serde(rename = "median_us")]
    median: f64,
}

/// What the passes collected for one init in one environment.
#[derive(Default)]
struct Samples {
    spawn: Vec<f64>,
    /// Round by round, one init's life after another.
    latency: Vec<Vec<f64>>,
    placed: Vec<Placed>,
    reaping: Vec<f64>,
    reaping_cpu: Vec<f64>,
    zombies_left: Option<u64>,
    rss_kb: Vec<u64>,
    hwm_kb: Vec<u64>,
    cpu_per_forward: Vec<f64>,
    pages_per_forward: Vec<u64>,
    /// The init could not run `/bin/true` to its end: nothing more is
    /// asked of it, since every other figure would wait out its deadline.
    failed: bool,
}

impl Samples {
    /// One `INIT /bin/true`; an init that does not exit is asked nothing more.
    fn spawn_once(&mut self, init: &Init, pid1: bool) {
        if self.failed {
            return;
        }
        match measure::spawn_times(init, pid1, 1) {
            Some(t) => self.spawn.extend(t),
            None => self.failed = true,
        }
    }

    /// One fresh init's latency rounds, and its memory. A life that could
    /// not be measured is kept, empty, so that lives stay in step across
    /// inits.
    fn latency_life(&mut self, init: &Init, helper: &Path, pid1: bool, rounds: usize) {
        let life = (!self.failed)
            .then(|| measure::latency(init, helper, pid1, rounds))
            .flatten();
        let Some(l) = life else {
            self.latency.push(Vec::new());
            return;
        };
        self.placed.extend(
            l.placements
                .iter()
                .zip(&l.rounds_us)
                .filter_map(|(p, &us)| {
                    Some(Placed {
                        placement: (*p)?,
                        us,
                    })
                }),
        );
        self.latency.push(l.rounds_us);
        if let Some(m) = l.memory {
            self.rss_kb.push(m.rss_kb);
            self.hwm_kb.push(m.hwm_kb);
        }
        self.cpu_per_forward.extend(l.cpu_per_forward_us);
        self.pages_per_forward.extend(l.pages_per_forward);
    }

    /// One orphan burst under the init as PID 1.
    fn burst(&mut self, init: &Init, helper: &Path, orphans: usize) {
        if self.failed {
            return;
        }
        if let Some(r) = measure::reaping(init, helper, orphans) {
            self.reaping.push(r.per_second);
            self.reaping_cpu.extend(r.init_cpu_ms);
            self.zombies_left = Some(self.zombies_left.unwrap_or(0).max(r.zombies_left));
        }
    }
}

impl Row {
    fn from_samples(init: &Init, env: &'static str, s: Samples) -> Row {
        let median = |v: Vec<u64>| Stats::of(v.into_iter().map(|x| x as f64).collect());
        let memory = median(s.rss_kb)
            .zip(s.hwm_kb.iter().max())
            .map(|(rss, hwm)| Memory {
                rss_kb: rss.median as u64,
                hwm_kb: *hwm,
            });
        Row {
            name: init.name.clone(),
            env,
            installed: true,
            spawn: Stats::of(s.spawn.clone()),
            spawn_vs_bare: None,
            latency: Stats::of(s.latency.concat()),
            latency_p90: percentile(s.latency.concat(), 0.9),
            by_placement: Placement::ALL
                .iter()
                .filter_map(|&p| {
                    let v: Vec<f64> = s
                        .placed
                        .iter()
                        .filter(|x| x.placement == p)
                        .map(|x| x.us)
                        .collect();
                    let rounds = v.len();
                    Stats::of(v).map(|st| PlacementStats {
                        placement: p,
                        rounds,
                        median: st.median,
                    })
                })
                .collect(),
            reaping: Stats::of(s.reaping.clone()),
            reaping_cpu: Stats::of(s.reaping_cpu.clone()),
            zombies_left: s.zombies_left,
            memory,
            cpu_per_forward: Stats::of(s.cpu_per_forward.clone()),
            pages_per_forward: median(s.pages_per_forward).map(|p| p.median),
            binary_kb: init
                .path
                .as_ref()
                .and_then(|p| std::fs::metadata(p).ok())
                .map(|m| m.len() / 1024),
            binary_static: init
                .path
                .as_ref()
                .is_some_and(|p| crate::elf::needs_loader(p) == Some(false)),
            draws: Draws {
                spawn: s.spawn.iter().map(|&x| vec![x]).collect(),
                latency: s.latency,
                reaping: s.reaping.iter().map(|&x| vec![x]).collect(),
                reaping_cpu: s.reaping_cpu.iter().map(|&x| vec![x]).collect(),
            },
        }
    }

    fn missing(name: &str, env: &'static str) -> Row {
        Row {
            name: name.to_string(),
            env,
            installed: false,
            spawn: None,
            spawn_vs_bare: None,
            latency: None,
            latency_p90: None,
            by_placement: Vec::new(),
            reaping: None,
            reaping_cpu: None,
            zombies_left: None,
            memory: None,
            cpu_per_forward: None,
            pages_per_forward: None,
            binary_kb: None,
            binary_static: false,
            draws: Draws::default(),
        }
    }
}

/// A timed figure's samples in a row, life by life.
type DrawsOf = fn(&Row) -> &[Vec<f64>];

/// One figure, how to read it from a row, and which way is better.
struct Figure {
    name: &'static str,
    unit: &'static str,
    value: fn(&Row) -> Option<f64>,
    /// The samples the value is the median of, for a timed figure.
    draws: Option<DrawsOf>,
    higher_is_better: bool,
}

const FIGURES: [Figure; 6] = [
    Figure {
        name: "spawn `INIT /bin/true`, median",
        unit: "ms",
        value: |r| r.spawn.map(|s| s.median),
        draws: Some(|r| &r.draws.spawn),
        higher_is_better: false,
    },
    Figure {
        name: "SIGTERM → child latency, median",
        unit: "µs",
        value: |r| r.latency.map(|s| s.median),
        draws: Some(|r| &r.draws.latency),
        higher_is_better: false,
    },
    Figure {
        name: "orphans reaped per second (PID 1)",
        unit: "/s",
        value: |r| r.reaping.map(|r| r.median),
        draws: Some(|r| &r.draws.reaping),
        higher_is_better: true,
    },
    // The init's own share of the burst: the rate above also counts the
    // exits themselves, which vary from pass to pass whatever the init.
    Figure {
        name: "init CPU for the orphan burst (PID 1), median",
        unit: "ms",
        value: |r| r.reaping_cpu.map(|r| r.median),
        draws: Some(|r| &r.draws.reaping_cpu),
        higher_is_better: false,
    },
    Figure {
        name: "VmRSS while the child runs",
        unit: "kB",
        value: |r| r.memory.map(|m| m.rss_kb as f64),
        draws: None,
        higher_is_better: false,
    },
    // A dynamic binary needs its libraries in the image too: only a static
    // one is the whole cost.
    Figure {
        name: "static binary size",
        unit: "kB",
        value: |r| r.binary_kb.filter(|_| r.binary_static).map(|k| k as f64),
        draws: None,
        higher_is_better: false,
    },
];

/// initlab-init against the best peer of this run on one figure.
#[derive(Clone, Serialize)]
struct Comparison {
    env: &'static str,
    figure: &'static str,
    unit: &'static str,
    initlab_init: Option<f64>,
    best_peer: Option<String>,
    best_peer_value: Option<f64>,
    /// initlab-init's figure over the best peer's.
    ratio: Option<f64>,
    /// Whether initlab-init is at least as good; None when either is
    /// missing.
    meets: Option<bool>,
    /// Where 95 % of the ratios fell when both sides' samples were drawn
    /// again (see `interval`); None for a figure measured once.
    ratio_ci95: Option<[f64; 2]>,
    /// The interval holds 1: this run cannot tell the two apart, whichever
    /// way `meets` fell.
    within_noise: Option<bool>,
}

impl Comparison {
    fn verdict(&self) -> String {
        let noise = if self.within_noise == Some(true) {
            ", within noise"
        } else {
            ""
        };
        match (self.meets, self.ratio) {
            (Some(true), _) => format!("meets{noise}"),
            (Some(false), Some(r)) => {
                // A miss under one percent is not rounded away to "0 %".
                let by = ((r - 1.0) * 100.0).abs();
                let digits = usize::from(by < 1.0);
                format!("misses by {by:.digits$} %{noise}")
            }
            _ => "—".into(),
        }
    }
}

fn against_best(env: &'static str, rows: &[Row]) -> Vec<Comparison> {
    let Some(ours) = rows.iter().find(|r| r.name == OURS) else {
        return Vec::new();
    };
    FIGURES
        .iter()
        .map(|f| {
            let best = rows
                .iter()
                .filter(|r| PEERS.contains(&r.name.as_str()))
                .filter_map(|r| (f.value)(r).map(|v| (r, v)))
                .reduce(|a, b| {
                    let b_wins = if f.higher_is_better {
                        b.1 > a.1
                    } else {
                        b.1 < a.1
                    };
                    if b_wins {
                        b
                    } else {
                        a
                    }
                });
            let mine = (f.value)(ours);
            let both = mine.zip(best.map(|b| b.1));
            let ratio_ci95 = f
                .draws
                .zip(best)
                .and_then(|(d, (peer, _))| interval::ratio_of_medians(d(ours), d(peer)));
            let ratio = both.filter(|(_, b)| *b > 0.0).map(|(m, b)| m / b);
            Comparison {
                env,
                figure: f.name,
                unit: f.unit,
                initlab_init: mine,
                best_peer: best.map(|b| b.0.name.clone()),
                best_peer_value: best.map(|b| b.1),
                ratio,
                meets: both.map(|(m, b)| if f.higher_is_better { m >= b } else { m <= b }),
                ratio_ci95,
                within_noise: ratio_ci95.map(|[lo, hi]| lo <= 1.0 && 1.0 <= hi),
            }
        })
        .collect()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cores} cores, {cpu}, kernel {}, load average {}",
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// Measures every init present in one environment, pass after pass.
fn measure_env(all: &[Init], helper: &Path, pid1: bool, sizes: &Sizes) -> Vec<Row> {
    let env = if pid1 { "pid1" } else { "direct" };
    let present: Vec<&Init> = all
        .iter()
        .filter(|i| i.is_none() || i.path.is_some())
        .collect();
    let mut samples: Vec<Samples> = present.iter().map(|_| Samples::default()).collect();
    let share = |total: usize| total.div_ceil(sizes.passes.max(1));
    let rounds = sizes.signal_rounds.div_ceil(sizes.signal_processes.max(1));
    // Every init takes its turn at every step, in an order drawn afresh for
    // each turn: what the machine does meanwhile falls on all of them
    // alike, and two inits' samples of one turn can be compared as a pair
    // (see `interval`). In a fixed cycle each init came right after the same
    // one every time, and started its life in what that one's life left
    // behind. The seed is fixed, so a run can be repeated.
    let mut rng = fastrand::Rng::with_seed(0x1a2b_3c4d);
    let turn = |rng: &mut fastrand::Rng| {
        let mut order: Vec<usize> = (0..present.len()).collect();
        rng.shuffle(&mut order);
        order
    };
    for pass in 0..sizes.passes {
        let step = |what: &str| {
            say!(
                "initlab bench: {env}: pass {}/{}: {what}",
                pass + 1,
                sizes.passes
            )
        };
        step("spawn");
        for _ in 0..share(sizes.spawn_runs) {
            for i in turn(&mut rng) {
                samples[i].spawn_once(present[i], pid1);
            }
        }
        // A fresh init for every few rounds: where the scheduler places an
        // init, its child and the harness holds for the life of the process
        // and moves its latency by microseconds, so many short lives average
        // over placements that one long life would draw only once.
        step("SIGTERM latency");
        for _ in 0..share(sizes.signal_processes) {
            for i in turn(&mut rng) {
                samples[i].latency_life(present[i], helper, pid1, rounds);
            }
        }
        for i in turn(&mut rng).into_iter().filter(|_| pid1) {
            if !present[i].is_none() {
                step(&format!("orphan burst under {}", present[i].name));
                samples[i].burst(present[i], helper, sizes.orphans);
            }
        }
    }
    let mut measured = present.iter().zip(samples);
    let mut rows: Vec<Row> = all
        .iter()
        .map(|init| {
            if !init.is_none() && init.path.is_none() {
                say!("initlab bench: {env}: {} is not installed", init.name);
                return Row::missing(&init.name, env);
            }
            let (init, s) = measured.next().expect("one sample set per present init");
            Row::from_samples(init, env, s)
        })
        .collect();
    let bare = rows.iter().find(|r| r.name == "none").and_then(|r| r.spawn);
    for r in &mut rows {
        r.spawn_vs_bare = r
            .spawn
            .zip(bare)
            .filter(|(_, b)| b.median > 0.0)
            .map(|(s, b)| s.median / b.median);
    }
    rows
}

/// What one run of the benchmark measured.
#[derive(Serialize)]
pub struct Report {
    machine_before: String,
    /// Where the inits ran: a CPU cgroup of their own, or why not.
    scheduling: String,
    /// Every init in each environment.
    inits: Vec<Row>,
    against_best_peer: Vec<Comparison>,
    /// The same latency where autogroup applies, when the run above was in
    /// a cgroup of its own.
    outside_cgroup: Vec<Row>,
    harness: Vec<cost::CostRow>,
    machine_after: String,
}

impl Report {
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report is plain data") + "\n"
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "machine: {} (before)\n", self.machine_before);
        let _ = writeln!(out, "{}\n", self.scheduling);
        let _ = writeln!(
            out,
            "| init | env | spawn `INIT /bin/true` | × /bin/true | SIGTERM latency median / p90 | orphans reaped/s (PID 1) | init CPU for the burst | zombies left | VmRSS / VmHWM | binary |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
        for r in &self.inits {
            write_row(&mut out, r);
        }
        let _ = writeln!(
            out,
            "\n| env | initlab-init against the best peer | initlab-init | best peer | ratio | 95 % interval | |\n|---|---|---|---|---|---|---|"
        );
        for c in &self.against_best_peer {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                c.env,
                c.figure,
                c.initlab_init
                    .map_or("—".into(), |m| format!("{m:.1} {}", c.unit)),
                c.best_peer
                    .as_deref()
                    .zip(c.best_peer_value)
                    .map_or("—".into(), |(p, b)| format!("{p}: {b:.1} {}", c.unit)),
                c.ratio.map_or("—".into(), |r| format!("{r:.2}")),
                c.ratio_ci95
                    .map_or("—".into(), |[lo, hi]| format!("{lo:.2}–{hi:.2}")),
                c.verdict(),
            );
        }
        write_placements(&mut out, &self.inits);
        if !self.outside_cgroup.is_empty() {
            let _ = writeln!(
                out,
                "\n| init (pid1, outside any CPU cgroup, autogroup on) | SIGTERM latency median / p90 |\n|---|---|"
            );
            for r in &self.outside_cgroup {
                let _ = writeln!(out, "| {} | {} |", r.name, latency_text(r));
            }
        }
        let _ = writeln!(out, "\n| harness | median (min–max) |\n|---|---|");
        for c in &self.harness {
            let _ = writeln!(out, "| {} | {} |", c.what, c.cell());
        }
        let _ = writeln!(out, "\nmachine: {} (after)", self.machine_after);
        out
    }
}

fn write_row(out: &mut String, r: &Row) {
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        r.name,
        r.env,
        fmt_stats(r.spawn, "ms"),
        r.spawn_vs_bare.map_or("—".into(), |x| format!("{x:.2}")),
        latency_text(r),
        r.reaping.map_or("—".into(), |r| format!(
            "{:.0} ({:.0}–{:.0})",
            r.median, r.min, r.max
        )),
        r.reaping_cpu.map_or("—".into(), |r| format!(
            "{:.0} ms ({:.0}–{:.0})",
            r.median, r.min, r.max
        )),
        r.zombies_left.map_or("—".into(), |z| z.to_string()),
        r.memory
            .map_or("—".into(), |m| format!("{} / {} kB", m.rss_kb, m.hwm_kb)),
        r.binary_kb.map_or("—".into(), |k| format!(
            "{k} kB, {}",
            if r.binary_static { "static" } else { "dynamic" }
        )),
    );
}

/// The latency rounds by placement: within one placement the inits differ
/// by far less than between placements.
fn write_placements(out: &mut String, rows: &[Row]) {
    let used: Vec<Placement> = Placement::ALL
        .into_iter()
        .filter(|p| {
            rows.iter()
                .any(|r| r.by_placement.iter().any(|s| s.placement == *p))
        })
        .collect();
    if used.is_empty() {
        return;
    }
    let names: Vec<&str> = used.iter().map(|p| p.describe()).collect();
    let _ = writeln!(
        out,
        "\n| SIGTERM latency by placement: median (share of rounds) | env | {} | init CPU per forwarded signal | pages touched per forwarded signal |\n|---|---|{}---|---|",
        names.join(" | "),
        "---|".repeat(used.len())
    );
    for r in rows.iter().filter(|r| !r.by_placement.is_empty()) {
        let total: usize = r.by_placement.iter().map(|s| s.rounds).sum();
        let cells: Vec<String> = used
            .iter()
            .map(|p| {
                r.by_placement
                    .iter()
                    .find(|s| s.placement == *p)
                    .map_or("—".into(), |s| {
                        format!(
                            "{:.1} µs ({:.0} %)",
                            s.median,
                            100.0 * s.rounds as f64 / total as f64
                        )
                    })
            })
            .collect();
        let pages = r
            .pages_per_forward
            .map_or("—".into(), |p| format!("{p:.0}"));
        let cpu = r
            .cpu_per_forward
            .map_or("—".into(), |c| format!("{:.1} µs", c.median));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {cpu} | {pages} |",
            r.name,
            r.env,
            cells.join(" | ")
        );
    }
}

fn latency_text(r: &Row) -> String {
    format!(
        "{} / {}",
        r.latency.map_or("—".into(), |s| format!(
            "{:.0} µs ({:.0}–{:.0})",
            s.median, s.min, s.max
        )),
        r.latency_p90.map_or("—".into(), |p| format!("{p:.0} µs")),
    )
}

/// Runs the benchmark.
/// `user`: the variants the user named, measured beside the built-in inits.
pub fn run(
    ctx: &RunCtx,
    variants: &[Variant],
    user: &[Variant],
    sizes: &Sizes,
) -> Result<Report, String> {
    let helper = std::env::current_exe().map_err(|e| e.to_string())?;
    let all = inits(&ctx.inits.init, user);
    let machine_before = machine();
    let group = cgroup::CpuGroup::enter();
    let autogroup = cgroup::autogroup();
    let scheduling = match (&group, autogroup) {
        (Some(g), _) => format!(
            "The inits ran in the CPU cgroup {}, as in a container{}.",
            g.name(),
            if autogroup {
                "; the host's autogroup scheduling did not apply to them"
            } else {
                ""
            }
        ),
        (None, true) => "No CPU cgroup could be made: the inits ran in the host's root \
            group, where autogroup gives each session its own scheduling group."
            .to_string(),
        (None, false) => "No CPU cgroup could be made; autogroup is off.".to_string(),
    };
    let mut inits = Vec::new();
    let mut against_best_peer = Vec::new();
    for pid1 in [false, true] {
        let rows = measure_env(&all, &helper, pid1, sizes);
        against_best_peer.extend(against_best(if pid1 { "pid1" } else { "direct" }, &rows));
        inits.extend(rows);
    }
    let mut outside_cgroup = Vec::new();
    if group.is_some() && autogroup {
        drop(group);
        for init in all.iter().filter(|i| i.is_none() || i.path.is_some()) {
            say!("initlab bench: latency outside the cgroup: {}", init.name);
            let mut s = Samples::default();
            let rounds = sizes.signal_rounds.div_ceil(sizes.signal_processes.max(1));
            for _ in 0..sizes.signal_processes {
                s.latency_life(init, &helper, true, rounds);
            }
            outside_cgroup.push(Row::from_samples(init, "pid1", s));
        }
    }
    let harness = cost::harness_cost(ctx, variants, sizes)?;
    Ok(Report {
        machine_before,
        scheduling,
        inits,
        against_best_peer,
        outside_cgroup,
        harness,
        machine_after: machine(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(m: f64) -> Option<Stats> {
        Some(Stats {
            median: m,
            min: m,
            max: m,
        })
    }

    fn report() -> Report {
        let mut ours = Row::missing(OURS, "pid1");
        ours.installed = true;
        ours.spawn = stats(1.0);
        ours.reaping = stats(870.0);
        let mut tini = Row::missing("tini", "pid1");
        tini.installed = true;
        tini.spawn = stats(2.0);
        tini.reaping = stats(1000.0);
        let inits = vec![ours, tini, Row::missing("catatonit", "pid1")];
        Report {
            machine_before: "m".into(),
            scheduling: "s".into(),
            against_best_peer: against_best("pid1", &inits),
            inits,
            outside_cgroup: Vec::new(),
            harness: Vec::new(),
            machine_after: "m".into(),
        }
    }

    #[test]
    fn each_figure_is_held_against_the_best_peer_the_right_way_up() {
        let r = report();
        let find = |f: &str| {
            r.against_best_peer
                .iter()
                .find(|c| c.figure.starts_with(f))
                .unwrap()
        };
        // Lower is better for spawn, higher for the reaping rate.
        assert_eq!(find("spawn").meets, Some(true));
        assert_eq!(find("spawn").ratio, Some(0.5));
        assert_eq!(find("orphans").meets, Some(false));
        assert_eq!(find("orphans").verdict(), "misses by 13 %");
        let barely = Comparison {
            ratio: Some(1.004),
            ..find("orphans").clone()
        };
        assert_eq!(barely.verdict(), "misses by 0.4 %");
        // A figure nobody measured has no verdict.
        assert_eq!(find("VmRSS").meets, None);
        assert_eq!(find("VmRSS").verdict(), "—");
    }

    #[test]
    fn markdown_rows_fill_their_table_and_json_carries_the_same_figures() {
        let r = report();
        let md = r.markdown();
        let cells = |l: &str| l.trim_matches('|').split('|').count();
        let heading = md
            .lines()
            .find(|l| l.starts_with("| init | env |"))
            .unwrap();
        for name in [OURS, "tini", "catatonit"] {
            let line = md
                .lines()
                .find(|l| l.starts_with(&format!("| {name} | pid1 |")))
                .unwrap();
            assert_eq!(cells(line), cells(heading), "{line}");
        }
        assert!(
            md.contains(
                "| pid1 | spawn `INIT /bin/true`, median | 1.0 ms | tini: 2.0 ms | 0.50 | — | meets |"
            ),
            "{md}"
        );
        let json: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(json["inits"][0]["spawn_ms"]["median"], 1.0);
        assert_eq!(json["inits"][2]["installed"], false);
        assert_eq!(json["against_best_peer"][2]["best_peer"], "tini");
        assert_eq!(json["against_best_peer"][2]["meets"], false);
    }

    /// A row whose latency lives fall in one of two placements and their
    /// modes, as measured on two cores, half in each as `fast` says,
    /// shifted by `offset` µs.
    fn modal_row(name: &str, offset: f64, fast: fn(usize) -> bool) -> Row {
        let lives: Vec<Vec<f64>> = (0..20)
            .map(|l| vec![if fast(l) { 14.0 } else { 28.0 } + offset; 8])
            .collect();
        let placed = lives
            .iter()
            .enumerate()
            .flat_map(|(l, v)| {
                let p = if fast(l) {
                    Placement::InitApart
                } else {
                    Placement::Together
                };
                v.iter().map(move |&us| Placed { placement: p, us })
            })
            .collect();
        let s = Samples {
            latency: lives,
            placed,
            pages_per_forward: vec![3, 4, 3],
            cpu_per_forward: vec![2.5, 2.0, 3.0],
            ..Samples::default()
        };
        let init = Init {
            name: name.into(),
            path: None,
            args: Vec::new(),
        };
        Row::from_samples(&init, "pid1", s)
    }

    /// Ours `behind` µs behind catatonit in every life; which mode a life
    /// falls in is chance, so the two differ in pattern.
    fn latency_against(behind: f64) -> (Comparison, [Row; 2]) {
        let rows = [
            modal_row(OURS, behind, |l| l % 2 == 0),
            modal_row("catatonit", 0.0, |l| l / 2 % 2 == 0),
        ];
        let latency = against_best("pid1", &rows)
            .into_iter()
            .find(|c| c.figure.starts_with("SIGTERM"))
            .unwrap();
        (latency, rows)
    }

    #[test]
    fn a_latency_a_few_percent_behind_in_the_same_modes_is_within_noise() {
        let (latency, _) = latency_against(0.5);
        assert_eq!(latency.meets, Some(false));
        assert_eq!(latency.within_noise, Some(true));
        assert!(
            latency.verdict().ends_with("within noise"),
            "{}",
            latency.verdict()
        );
        // Far behind in every life is not noise.
        let (latency, rows) = latency_against(20.0);
        assert_eq!(latency.within_noise, Some(false));
        assert!(
            latency.verdict().starts_with("misses by"),
            "{}",
            latency.verdict()
        );
        // The placement table gives each mode its own median and share,
        // and the pages a forwarded signal touched, median over lives.
        let mut md = String::new();
        write_placements(&mut md, &rows);
        assert!(
            md.contains("| initlab-init | pid1 | 34.0 µs (50 %) | 48.0 µs (50 %) | 2.5 µs | 3 |"),
            "{md}"
        );
    }
}
