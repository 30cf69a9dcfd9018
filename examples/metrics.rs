//! Prometheus text for a set of drivers' counts, as an embedder would
//! serve it: a json-file and a rate-limited json-file behind one
//! container's worth of lines each, rendered with `render_prometheus`.
//!
//! ```text
//! cargo run --example metrics
//! cargo run --example metrics | promtool check metrics
//! ```

use logdriver::{registry, render_prometheus, Info, Message, Source, StatsSample};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("metrics-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut samples = Vec::new();
    let names = ["web", "noisy \"batch\" job"];
    let mut kept = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut info = Info::new(format!("{i:064x}")).with_log_path(dir.join(format!("{i}.log")));
        if i == 1 {
            info = info.with_option("rate-limit-lines", "10");
        }
        let logger = registry().create("json-file", &info)?;
        for n in 0..100 {
            logger.log(Message::new(Source::Stdout, format!("line {n}")))?;
        }
        logger.close()?;
        kept.push((name.to_string(), logger.stats()));
    }
    let labels: Vec<[(&str, &str); 2]> = kept
        .iter()
        .map(|(name, _)| [("container", name.as_str()), ("driver", "json-file")])
        .collect();
    for ((_, stats), labels) in kept.iter().zip(&labels) {
        samples.push(StatsSample {
            labels,
            stats: *stats,
        });
    }
    print!("{}", render_prometheus(&samples));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
