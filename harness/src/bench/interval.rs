//! How sure a ratio of two medians is: a bootstrap over the units the
//! samples came in.
//!
//! The latency rounds of one init's life are not independent draws: where
//! the scheduler placed the harness, the init and its child carries from
//! round to round, and the latencies cluster in modes a placement apart
//! (see `Placement`). So whole lives are resampled, not rounds; a figure
//! measured once per run or pass is a life of one sample.

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

/// All the samples of `lives` drawn with replacement, `lives.len()` times.
fn resample(rng: &mut fastrand::Rng, lives: &[Vec<f64>], into: &mut Vec<f64>) {
    into.clear();
    for _ in 0..lives.len() {
        into.extend_from_slice(&lives[rng.usize(..lives.len())]);
    }
}

/// The central 95 % of median(mine) / median(theirs) over resamples of
/// both sides' lives; None with fewer than two lives on either side, or a
/// median of zero.
pub fn ratio_of_medians(mine: &[Vec<f64>], theirs: &[Vec<f64>]) -> Option<[f64; 2]> {
    if mine.len() < 2 || theirs.len() < 2 {
        return None;
    }
    let mut rng = fastrand::Rng::with_seed(SEED);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut ratios = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        resample(&mut rng, mine, &mut a);
        resample(&mut rng, theirs, &mut b);
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

    /// Lives of `n` samples each around `centre`, spread by a fixed walk.
    fn lives(centre: f64, count: usize, n: usize, offset: usize) -> Vec<Vec<f64>> {
        (0..count)
            .map(|l| {
                (0..n)
                    .map(|i| centre + ((l * 7 + i * 13 + offset) % 11) as f64 - 5.0)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_clear_difference_lies_outside_one_and_a_tie_inside() {
        let [lo, hi] = ratio_of_medians(&lives(30.0, 25, 8, 0), &lives(20.0, 25, 8, 3)).unwrap();
        assert!(lo > 1.2 && hi < 1.8, "{lo}–{hi}");
        let [lo, hi] = ratio_of_medians(&lives(20.0, 25, 8, 0), &lives(20.0, 25, 8, 5)).unwrap();
        assert!(lo < 1.0 && hi > 1.0, "{lo}–{hi}");
    }

    #[test]
    fn lives_in_two_modes_widen_the_interval_beyond_what_rounds_would_say() {
        // Each life sits wholly in a fast (14) or a slow (28) mode, as the
        // latency rounds do; half the lives are in each.
        let modal: Vec<Vec<f64>> = (0..24)
            .map(|l| vec![if l % 2 == 0 { 14.0 } else { 28.0 }; 8])
            .collect();
        let [lo, hi] = ratio_of_medians(&modal, &modal).unwrap();
        assert!(lo < 0.8 && hi > 1.25, "{lo}–{hi}");
    }

    #[test]
    fn too_few_lives_give_no_interval_and_the_same_data_the_same_one() {
        assert_eq!(ratio_of_medians(&[vec![1.0]], &lives(1.0, 5, 1, 0)), None);
        let (a, b) = (lives(9.0, 5, 3, 1), lives(10.0, 5, 3, 2));
        assert_eq!(ratio_of_medians(&a, &b), ratio_of_medians(&a, &b));
    }
}
