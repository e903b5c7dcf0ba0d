//! Pairing of the old and new members of one symbol family (the closures of
//! one function, or several symbols sharing a name) by size, so that closure
//! renumbering does not show up as one removed and one added symbol.

/// Above this many candidate pairs (`old × new`) in one family the exact
/// pairing is replaced by a greedy one, so a hostile report cannot make the
/// diff quadratic in time and memory.
const EXACT_PAIRING_LIMIT: usize = 1 << 20;

/// The same bound over all the families of one diff: many mid-sized
/// families are as costly as one huge family.
const EXACT_PAIRING_BUDGET: usize = 1 << 24;

/// Pairs families one after the other, within [`EXACT_PAIRING_BUDGET`].
#[derive(Debug)]
pub(crate) struct Pairer {
    cells_left: usize,
}

impl Default for Pairer {
    fn default() -> Self {
        Pairer {
            cells_left: EXACT_PAIRING_BUDGET,
        }
    }
}

impl Pairer {
    /// [`pair_by_size`], falling back to greedy pairing once the budget of
    /// exact pairing is spent.
    pub(crate) fn pair(&mut self, old: &[u64], new: &[u64]) -> Vec<Pair> {
        let cells = (old.len() + 1).saturating_mul(new.len() + 1);
        if cells > EXACT_PAIRING_LIMIT || cells > self.cells_left {
            return pair_greedily(&ascending(old), &ascending(new));
        }
        self.cells_left -= cells;
        pair_by_size(old, new)
    }
}

/// One outcome of pairing: indices into the old and new slices; `None` on a
/// side means the member is only on the other side.
pub(crate) type Pair = (Option<usize>, Option<usize>);

/// Pairs `old` and `new` sizes at the smallest total cost, where a pair
/// costs its size difference and an unpaired member half its size. So two
/// members pair when that is cheaper than calling one removed and the other
/// added (their sizes are within a factor of three), and closely sized
/// members pair first. Ties go to the member earlier in its slice, so callers
/// get a stable result by passing members in a stable order.
fn pair_by_size(old: &[u64], new: &[u64]) -> Vec<Pair> {
    let old_order = ascending(old);
    let new_order = ascending(new);
    let a: Vec<u64> = old_order.iter().map(|&i| old[i]).collect();
    let b: Vec<u64> = new_order.iter().map(|&j| new[j]).collect();
    let steps = optimal_steps(&a, &b);
    steps
        .into_iter()
        .map(|(i, j)| (i.map(|i| old_order[i]), j.map(|j| new_order[j])))
        .collect()
}

/// Indices of `sizes` in ascending size order, earlier index first on ties.
fn ascending(sizes: &[u64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| sizes[i]);
    order
}

/// Largest with largest, down the two sorted lists; the smallest members of
/// the longer list stay unpaired.
fn pair_greedily(old_order: &[usize], new_order: &[usize]) -> Vec<Pair> {
    let paired = old_order.len().min(new_order.len());
    let old_skip = old_order.len() - paired;
    let new_skip = new_order.len() - paired;
    let mut pairs: Vec<Pair> = old_order[..old_skip]
        .iter()
        .map(|&i| (Some(i), None))
        .chain(new_order[..new_skip].iter().map(|&j| (None, Some(j))))
        .collect();
    pairs.extend(
        old_order[old_skip..]
            .iter()
            .zip(&new_order[new_skip..])
            .map(|(&i, &j)| (Some(i), Some(j))),
    );
    pairs
}

/// What the dynamic programme chose at a cell.
#[derive(Clone, Copy)]
enum Step {
    Pair,
    SkipOld,
    SkipNew,
}

/// Minimum-cost alignment of two ascending lists (an edit distance where
/// pairing costs the size difference and skipping costs half the size). On
/// a line an optimal pairing never crosses, so aligning sorted lists finds
/// it.
fn optimal_steps(a: &[u64], b: &[u64]) -> Vec<(Option<usize>, Option<usize>)> {
    let width = b.len() + 1;
    let mut cost = vec![0u64; (a.len() + 1) * width];
    let mut choice = vec![Step::Pair; (a.len() + 1) * width];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            let cell = i * width + j;
            let mut best: Option<(u64, Step)> = None;
            let mut consider = |candidate: u64, step: Step| {
                if best.is_none_or(|(c, _)| candidate < c) {
                    best = Some((candidate, step));
                }
            };
            if i > 0 && j > 0 {
                let prior = cost[(i - 1) * width + j - 1];
                consider(
                    prior.saturating_add(a[i - 1].abs_diff(b[j - 1])),
                    Step::Pair,
                );
            }
            if i > 0 {
                consider(
                    cost[(i - 1) * width + j].saturating_add(a[i - 1] / 2),
                    Step::SkipOld,
                );
            }
            if j > 0 {
                consider(
                    cost[i * width + j - 1].saturating_add(b[j - 1] / 2),
                    Step::SkipNew,
                );
            }
            if let Some((c, step)) = best {
                cost[cell] = c;
                choice[cell] = step;
            }
        }
    }
    let (mut i, mut j) = (a.len(), b.len());
    let mut steps = Vec::with_capacity(a.len() + b.len());
    while i > 0 || j > 0 {
        match choice[i * width + j] {
            Step::Pair => {
                i -= 1;
                j -= 1;
                steps.push((Some(i), Some(j)));
            }
            Step::SkipOld => {
                i -= 1;
                steps.push((Some(i), None));
            }
            Step::SkipNew => {
                j -= 1;
                steps.push((None, Some(j)));
            }
        }
    }
    steps.reverse();
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut pairs: Vec<Pair>) -> Vec<Pair> {
        pairs.sort();
        pairs
    }

    #[test]
    fn renumbered_members_pair_by_size() {
        // A new small closure was inserted first: numbers shift by one.
        let old = [100, 500];
        let new = [50, 100, 500];
        assert_eq!(
            sorted(pair_by_size(&old, &new)),
            vec![(None, Some(0)), (Some(0), Some(1)), (Some(1), Some(2))]
        );
    }

    #[test]
    fn sizes_that_changed_still_pair_closest_first() {
        let old = [1000, 90];
        let new = [100, 1010];
        assert_eq!(
            sorted(pair_by_size(&old, &new)),
            vec![(Some(0), Some(1)), (Some(1), Some(0))]
        );
    }

    #[test]
    fn removed_member_is_the_one_that_fits_worst() {
        let old = [300, 40, 120];
        let new = [118, 302];
        assert_eq!(
            sorted(pair_by_size(&old, &new)),
            vec![(Some(0), Some(1)), (Some(1), None), (Some(2), Some(0))]
        );
    }

    #[test]
    fn empty_sides() {
        assert_eq!(pair_by_size(&[], &[]), vec![]);
        assert_eq!(pair_by_size(&[5], &[]), vec![(Some(0), None)]);
        assert_eq!(
            pair_by_size(&[], &[7, 8]),
            vec![(None, Some(0)), (None, Some(1))]
        );
    }

    #[test]
    fn huge_families_fall_back_to_greedy_pairing() {
        let old: Vec<u64> = (0..1100).collect();
        let new: Vec<u64> = (0..1000).map(|s| s + 100).collect();
        let pairs = Pairer::default().pair(&old, &new);
        assert_eq!(pairs.len(), 1100);
        // The 1000 largest old members pair with the new ones in order.
        assert!(pairs.contains(&(Some(1099), Some(999))));
        assert!(pairs.contains(&(Some(100), Some(0))));
        assert!(pairs.contains(&(Some(99), None)));
    }

    #[test]
    fn the_budget_spans_families() {
        let mut pairer = Pairer {
            cells_left: (2 + 1) * (1 + 1) + (1 + 1) * (1 + 1),
        };
        // Exact: the close sizes pair, the 100 is left over.
        let exact = vec![(Some(0), None), (Some(1), Some(0))];
        assert_eq!(sorted(pairer.pair(&[100, 45], &[44])), exact);
        assert_eq!(pairer.pair(&[7], &[7]), vec![(Some(0), Some(0))]);
        assert_eq!(pairer.cells_left, 0);
        // Greedy once the budget is spent: largest with largest.
        let greedy = vec![(Some(0), Some(0)), (Some(1), None)];
        assert_eq!(sorted(pairer.pair(&[100, 45], &[44])), greedy);
    }

    #[test]
    fn extreme_sizes_do_not_overflow() {
        let pairs = pair_by_size(&[u64::MAX, u64::MAX], &[u64::MAX, 0]);
        assert_eq!(pairs.len(), 3);
        assert!(pairs.contains(&(None, Some(1))));
        assert!(pairs.iter().any(|&(i, j)| i.is_some() && j == Some(0)));
    }

    #[test]
    fn very_different_sizes_do_not_pair() {
        let old = [500, 90];
        let new = [92];
        assert_eq!(
            sorted(pair_by_size(&old, &new)),
            vec![(Some(0), None), (Some(1), Some(0))]
        );
        assert_eq!(
            sorted(pair_by_size(&[10], &[1000])),
            vec![(None, Some(0)), (Some(0), None)]
        );
    }
}
