//! `render_prometheus` over 1,000 containers' stats (a plugin's worth),
//! against a plain loop that writes the same samples with `write!` and
//! no escaping, in the same run.

use std::fmt::Write as _;

use criterion::{criterion_group, criterion_main, Criterion};
use logdriver::{render_prometheus, LoggerStats, StatsSample};

const CONTAINERS: usize = 1_000;

fn metrics(c: &mut Criterion) {
    let ids: Vec<String> = (0..CONTAINERS).map(|i| format!("{i:064x}")).collect();
    let labels: Vec<[(&str, &str); 2]> = ids
        .iter()
        .map(|id| [("container", id.as_str()), ("driver", "json-file")])
        .collect();
    let samples: Vec<StatsSample<'_>> = labels
        .iter()
        .enumerate()
        .map(|(i, labels)| {
            let mut stats = LoggerStats::default();
            stats.lines = i as u64 * 1_000_003;
            stats.bytes = i as u64 * 97_000_001;
            stats.dropped = i as u64;
            StatsSample { labels, stats }
        })
        .collect();
    let mut group = c.benchmark_group("metrics_1000_containers");
    group.bench_function("render_prometheus", |b| {
        b.iter(|| render_prometheus(&samples))
    });
    group.bench_function("plain_write_loop", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(1 << 20);
            for name in [
                "lines",
                "bytes",
                "dropped",
                "errors",
                "truncated",
                "resent",
                "suppressed",
                "suppressed_bytes",
            ] {
                for s in &samples {
                    let _ = writeln!(
                        out,
                        "logdriver_{name}_total{{container=\"{}\",driver=\"{}\"}} {}",
                        s.labels[0].1, s.labels[1].1, s.stats.lines
                    );
                }
            }
            out
        })
    });
    group.finish();
}

criterion_group!(benches, metrics);
criterion_main!(benches);
