use super::*;

/// Where the last `n` whole lines of `bytes` start, and how many there
/// are, found the slow way: forward.
fn forward(bytes: &[u8], n: usize) -> (u64, usize) {
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let starts: Vec<usize> = std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', &bytes[..whole]).map(|i| i + 1))
        .filter(|&s| s < whole)
        .collect();
    let kept = &starts[starts.len().saturating_sub(n)..];
    (kept.first().map_or(bytes.len(), |&s| s) as u64, kept.len())
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(
        std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
    ))]

    /// Walking back over lines finds what reading forward finds, for
    /// any bytes (lines across the 64 KiB blocks, a last one unended).
    #[test]
    fn fuzz_walking_back_over_lines_agrees_with_reading_forward(
        lines in proptest::collection::vec(0usize..40_000, 0..12),
        unended in 0usize..10,
        n in 0usize..15,
    ) {
        let mut bytes = Vec::new();
        for (i, len) in lines.iter().enumerate() {
            bytes.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, *len));
            bytes.push(b'\n');
        }
        bytes.extend(std::iter::repeat_n(b'z', unended));
        let path = std::env::temp_dir().join(format!(
            "logdriver-walkback-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let back = walk_back_lines(&file, bytes.len() as u64, n).unwrap();
        std::fs::remove_file(&path).unwrap();
        let (start, count) = forward(&bytes, n);
        // With no line to keep, where reading would start is moot.
        if count == 0 {
            proptest::prop_assert_eq!(back.1, 0);
        } else {
            proptest::prop_assert_eq!(back, (start, count));
        }
    }
}
