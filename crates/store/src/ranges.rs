//! Arithmetic on half-open `[start, end)` ranges.

/// `[from, to)` minus the union of `covered`, as ascending disjoint ranges.
pub fn subtract_ranges(from: i64, to: i64, covered: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut sorted: Vec<(i64, i64)> = covered.iter().copied().filter(|(a, b)| a < b).collect();
    sorted.sort_unstable();
    let mut holes = Vec::new();
    let mut cursor = from;
    for (a, b) in sorted {
        if b <= cursor {
            continue;
        }
        if a >= to {
            break;
        }
        if a > cursor {
            holes.push((cursor, a));
        }
        cursor = cursor.max(b);
        if cursor >= to {
            break;
        }
    }
    if cursor < to {
        holes.push((cursor, to));
    }
    holes
}

/// The union of `ranges` as ascending disjoint ranges; touching ranges are joined.
pub(crate) fn union_ranges(mut ranges: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    ranges.retain(|(a, b)| a < b);
    ranges.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some((_, end)) if a <= *end => *end = (*end).max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtracts() {
        assert_eq!(subtract_ranges(0, 10, &[]), vec![(0, 10)]);
        assert_eq!(subtract_ranges(0, 10, &[(2, 4), (3, 6), (8, 20)]), vec![(0, 2), (6, 8)]);
        assert_eq!(subtract_ranges(0, 10, &[(-5, 15)]), vec![]);
        assert_eq!(subtract_ranges(5, 10, &[(0, 5), (10, 12)]), vec![(5, 10)]);
        assert_eq!(subtract_ranges(0, 0, &[]), vec![]);
    }

    #[test]
    fn unites() {
        assert_eq!(
            union_ranges(vec![(5, 6), (0, 2), (2, 3), (1, 2), (7, 7)]),
            vec![(0, 3), (5, 6)]
        );
        assert_eq!(union_ranges(vec![]), vec![]);
    }
}
