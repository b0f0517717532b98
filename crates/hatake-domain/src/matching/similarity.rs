//! String similarity for record comparison: Jaro–Winkler over characters.
//!
//! Written for speed on short fields (names, companies, streets): no allocation for strings of
//! up to 64 characters, where the matched-character flags fit in one `u64` each.

/// Jaro similarity of two character slices, from 0.0 (nothing in common) to 1.0 (equal).
pub fn jaro<T: PartialEq + Copy>(a: &[T], b: &[T]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    if a == b {
        return 1.0;
    }
    if a.len() <= 64 && b.len() <= 64 {
        jaro_small(a, b)
    } else {
        jaro_large(a, b)
    }
}

fn window(a: usize, b: usize) -> usize {
    (a.max(b) / 2).saturating_sub(1)
}

fn jaro_small<T: PartialEq + Copy>(a: &[T], b: &[T]) -> f64 {
    let range = window(a.len(), b.len());
    let mut a_flags = 0u64;
    let mut b_flags = 0u64;
    let mut matches = 0usize;
    for (i, &ca) in a.iter().enumerate() {
        let start = i.saturating_sub(range);
        let end = (i + range + 1).min(b.len());
        for (j, &cb) in b.iter().enumerate().take(end).skip(start) {
            if b_flags & (1 << j) == 0 && ca == cb {
                a_flags |= 1 << i;
                b_flags |= 1 << j;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    score(matches, transpositions(a, b, a_flags, b_flags), a.len(), b.len())
}

/// Half the matched characters that stand in another order, walking both strings' match flags.
fn transpositions<T: PartialEq>(a: &[T], b: &[T], a_flags: u64, b_flags: u64) -> usize {
    let mut transposed = 0usize;
    let mut rest = b_flags;
    let mut flags = a_flags;
    while flags != 0 {
        let i = flags.trailing_zeros() as usize;
        flags &= flags - 1;
        let j = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        if a[i] != b[j] {
            transposed += 1;
        }
    }
    transposed / 2
}

fn jaro_large<T: PartialEq + Copy>(a: &[T], b: &[T]) -> f64 {
    let range = window(a.len(), b.len());
    let mut a_flags = vec![false; a.len()];
    let mut b_flags = vec![false; b.len()];
    let mut matches = 0usize;
    for (i, &ca) in a.iter().enumerate() {
        let start = i.saturating_sub(range);
        let end = (i + range + 1).min(b.len());
        for j in start..end {
            if !b_flags[j] && ca == b[j] {
                a_flags[i] = true;
                b_flags[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let a_matched = a.iter().zip(&a_flags).filter(|(_, &f)| f).map(|(c, _)| c);
    let b_matched = b.iter().zip(&b_flags).filter(|(_, &f)| f).map(|(c, _)| c);
    let transposed = a_matched.zip(b_matched).filter(|(x, y)| x != y).count();
    score(matches, transposed / 2, a.len(), b.len())
}

#[allow(clippy::cast_precision_loss)]
fn score(matches: usize, transpositions: usize, a_len: usize, b_len: usize) -> f64 {
    let m = matches as f64;
    (m / a_len as f64 + m / b_len as f64 + (m - transpositions as f64) / m) / 3.0
}

/// Jaro similarity of two ASCII strings, bit-parallel: each byte of `b` has a mask of the
/// positions where it occurs, so finding a match for a byte of `a` is a few bit operations
/// instead of a scan of the window. Same result as [`jaro`].
pub fn jaro_ascii(a: &[u8], b: &[u8]) -> f64 {
    if a.len() > 64 || b.len() > 64 || a.is_empty() || b.is_empty() || a == b {
        return jaro(a, b);
    }
    let mut positions = [0u64; 128];
    for (j, &byte) in b.iter().enumerate() {
        positions[usize::from(byte & 0x7f)] |= 1 << j;
    }
    let range = window(a.len(), b.len());
    let mut a_flags = 0u64;
    let mut b_flags = 0u64;
    let mut matches = 0usize;
    for (i, &byte) in a.iter().enumerate() {
        let start = i.saturating_sub(range);
        let end = (i + range + 1).min(b.len());
        if start >= end {
            continue;
        }
        let below_end = if end >= 64 { u64::MAX } else { (1u64 << end) - 1 };
        let in_window = below_end & !((1u64 << start) - 1);
        let free = positions[usize::from(byte & 0x7f)] & !b_flags & in_window;
        if free != 0 {
            b_flags |= free & free.wrapping_neg();
            a_flags |= 1 << i;
            matches += 1;
        }
    }
    if matches == 0 {
        return 0.0;
    }
    score(matches, transpositions(a, b, a_flags, b_flags), a.len(), b.len())
}

/// [`jaro_winkler`] for ASCII strings through [`jaro_ascii`].
pub fn jaro_winkler_ascii(a: &[u8], b: &[u8]) -> f64 {
    winkler(jaro_ascii(a, b), a, b)
}

fn winkler<T: PartialEq>(jaro: f64, a: &[T], b: &[T]) -> f64 {
    let prefix = a.iter().zip(b).take(4).take_while(|(x, y)| x == y).count();
    #[allow(clippy::cast_precision_loss)]
    let boost = prefix as f64 * 0.1 * (1.0 - jaro);
    jaro + boost
}

/// Jaro–Winkler similarity: Jaro, raised for a common prefix of up to four characters.
pub fn jaro_winkler<T: PartialEq + Copy>(a: &[T], b: &[T]) -> f64 {
    winkler(jaro(a, b), a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn known_values() {
        // Reference values of the classic examples (Winkler 1990).
        let cases: &[(&str, &str, f64)] = &[
            ("martha", "marhta", 0.9611),
            ("dwayne", "duane", 0.84),
            ("dixon", "dicksonx", 0.8133),
            ("abc", "abc", 1.0),
            ("abc", "xyz", 0.0),
            ("", "", 1.0),
            ("a", "", 0.0),
            ("佐藤太郎", "佐藤太朗", 0.8833),
            ("ひまわり商事", "ひまわり商亊", 0.9333),
        ];
        for &(a, b, expected) in cases {
            let got = jaro_winkler(&chars(a), &chars(b));
            assert!((got - expected).abs() < 0.001, "{a} vs {b}: {got} != {expected}");
            let back = jaro_winkler(&chars(b), &chars(a));
            assert!((got - back).abs() < 1e-9, "{a} vs {b} is not symmetric");
        }
    }

    #[test]
    fn the_ascii_path_agrees_with_the_general_one() {
        let words = [
            "martha",
            "marhta",
            "dwayne",
            "duane",
            "dixon",
            "dicksonx",
            "",
            "a",
            "jones",
            "johnson",
            "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl",
            "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijlk",
            "stanley street",
            "stanley sreet",
            "aaaaabbbbb",
            "bbbbbaaaaa",
        ];
        for a in words {
            for b in words {
                let general = jaro_winkler(&chars(a), &chars(b));
                let ascii = jaro_winkler_ascii(a.as_bytes(), b.as_bytes());
                assert!((general - ascii).abs() < 1e-12, "{a} vs {b}: {general} != {ascii}");
            }
        }
    }

    #[test]
    fn long_strings_take_the_slow_path_with_the_same_result() {
        let a: Vec<char> = "abcdefghij".repeat(8).chars().collect();
        let mut b = a.clone();
        b.swap(3, 4);
        b[70] = 'z';
        let large = jaro_winkler(&a, &b);
        assert!(large > 0.95 && large < 1.0, "{large}");
        // The same comparison cut to 60 characters goes through the bit-flag path.
        let small = jaro(&a[..60], &b[..60]);
        let slow = jaro_large(&a[..60], &b[..60]);
        assert!((small - slow).abs() < 1e-12);
    }
}
