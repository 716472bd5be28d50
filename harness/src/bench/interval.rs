//! How sure a ratio of two medians is: a bootstrap over the units the
//! samples came in.
//!
//! The latency rounds of one init's life are not independent draws: where
//! the scheduler placed the harness, the init and its child carries from
//! round to round, and the latencies cluster in modes a placement apart
//! (see `Placement`). So whole lives are resampled, not rounds; a figure
//! measured once per run or pass is a life of one sample. The inits take
//! turns step by step, so the n-th life of two inits was lived at nearly
//! the same time: when both sides have as many, they are drawn as pairs,
//! and a change in the machine's load, which fell on both, stays paired
//! instead of widening the interval.

/// Resamples drawn for one interval.
const RESAMPLES: usize = 2000;
/// Fixed, so that a report's intervals can be computed again from its data.
const SEED: u64 = 0x1_417_1a6;

/// The median as `Stats` takes it: the upper middle of the sorted values.
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
}

/// The samples of `lives` at `picks`.
fn gather(lives: &[Vec<f64>], picks: &[usize], into: &mut Vec<f64>) {
    into.clear();
    for &j in picks {
        into.extend_from_slice(&lives[j]);
    }
}

/// `n` indices below `n`, drawn with replacement.
fn draw(rng: &mut fastrand::Rng, n: usize, into: &mut Vec<usize>) {
    into.clear();
    into.extend((0..n).map(|_| rng.usize(..n)));
}

/// The central 95 % of median(mine) / median(theirs) over resamples of
/// both sides' lives, in pairs when they are as many; None with fewer than
/// two lives on either side, or a median of zero.
pub fn ratio_of_medians(mine: &[Vec<f64>], theirs: &[Vec<f64>]) -> Option<[f64; 2]> {
    if mine.len() < 2 || theirs.len() < 2 {
        return None;
    }
    let paired = mine.len() == theirs.len();
    let mut rng = fastrand::Rng::with_seed(SEED);
    let (mut a, mut b, mut picks) = (Vec::new(), Vec::new(), Vec::new());
    let mut ratios = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        draw(&mut rng, mine.len(), &mut picks);
        gather(mine, &picks, &mut a);
        if !paired {
            draw(&mut rng, theirs.len(), &mut picks);
        }
        gather(theirs, &picks, &mut b);
        let (m, t) = (median(&mut a)?, median(&mut b)?);
        if t <= 0.0 {
            return None;
        }
        ratios.push(m / t);
    }
    ratios.sort_by(|x, y| x.total_cmp(y));
    let at = |p: f64| ratios[((ratios.len() - 1) as f64 * p).round() as usize];
    Some([at(0.025), at(0.975)])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lives of `n` samples each around `centre`, spread by ±5 at random,
    /// each side with its own `seed`.
    fn lives(centre: f64, count: usize, n: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..count)
            .map(|_| (0..n).map(|_| centre + rng.f64() * 10.0 - 5.0).collect())
            .collect()
    }

    #[test]
    fn a_clear_difference_lies_outside_one_and_a_tie_inside() {
        let [lo, hi] = ratio_of_medians(&lives(30.0, 25, 8, 1), &lives(20.0, 25, 8, 2)).unwrap();
        assert!(lo > 1.2 && hi < 1.8, "{lo}–{hi}");
        let [lo, hi] = ratio_of_medians(&lives(20.0, 25, 8, 3), &lives(20.0, 25, 8, 4)).unwrap();
        assert!(lo < 1.0 && hi > 1.0, "{lo}–{hi}");
    }

    #[test]
    fn lives_in_two_modes_widen_the_interval_beyond_what_rounds_would_say() {
        // Each life sits wholly in a fast (14) or a slow (28) mode, as the
        // latency rounds do, half the lives in each; which mode a life
        // falls in is chance, so the two sides' patterns differ.
        let modal = |fast: fn(usize) -> bool| -> Vec<Vec<f64>> {
            (0..24)
                .map(|l| vec![if fast(l) { 14.0 } else { 28.0 }; 8])
                .collect()
        };
        let [lo, hi] =
            ratio_of_medians(&modal(|l| l % 2 == 0), &modal(|l| l / 2 % 2 == 0)).unwrap();
        assert!(lo < 0.8 && hi > 1.25, "{lo}–{hi}");
    }

    #[test]
    fn lives_drawn_in_pairs_keep_a_shared_drift_out_of_the_interval() {
        // The machine's load moves every init's figure from step to step;
        // ours is 5 % above theirs at every step.
        let theirs: Vec<Vec<f64>> = (0..20).map(|j| vec![10.0 + (j % 7) as f64 * 3.0]).collect();
        let mine: Vec<Vec<f64>> = theirs.iter().map(|l| vec![l[0] * 1.05]).collect();
        let [lo, hi] = ratio_of_medians(&mine, &theirs).unwrap();
        assert!(lo > 1.0 && hi < 1.1, "paired: {lo}–{hi}");
        // Drawn apart, the drift swamps the difference.
        let [lo, hi] = ratio_of_medians(&mine[1..], &theirs).unwrap();
        assert!(lo < 1.0 && hi > 1.1, "unpaired: {lo}–{hi}");
    }

    #[test]
    fn too_few_lives_give_no_interval_and_the_same_data_the_same_one() {
        assert_eq!(ratio_of_medians(&[vec![1.0]], &lives(10.0, 5, 1, 0)), None);
        let (a, b) = (lives(9.0, 5, 3, 1), lives(10.0, 5, 3, 2));
        assert_eq!(ratio_of_medians(&a, &b), ratio_of_medians(&a, &b));
    }
}
