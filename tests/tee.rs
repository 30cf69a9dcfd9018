//! `tee`: every line to each branch, a stuck or broken branch isolated,
//! the counts per branch and summed, and every option checked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use logdriver::{Error, Info, Logger, Message, Registry, Result, Source, Tee};
use parking_lot::Mutex;

/// A driver that keeps what it gets.
#[derive(Default)]
struct Keep(Mutex<Vec<Vec<u8>>>);

impl Logger for Keep {
    fn log(&self, msg: Message) -> Result<()> {
        self.0.lock().push(msg.line.to_vec());
        Ok(())
    }
    fn stats(&self) -> logdriver::LoggerStats {
        let mut stats = logdriver::LoggerStats::default();
        stats.lines = self.0.lock().len() as u64;
        stats
    }
    fn name(&self) -> &str {
        "keep"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// A driver whose `log` waits until it is let go.
struct Stuck(Arc<AtomicBool>);

impl Logger for Stuck {
    fn log(&self, _: Message) -> Result<()> {
        while !self.0.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
    fn name(&self) -> &str {
        "stuck"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// A driver that panics on every line.
struct Panics;

impl Logger for Panics {
    fn log(&self, _: Message) -> Result<()> {
        panic!("a broken driver");
    }
    fn name(&self) -> &str {
        "panics"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// A registry with `keep` (each instance recorded in `kept`), `stuck`
/// and `panics`.
fn registry(kept: &Arc<Mutex<Vec<Arc<Keep>>>>, release: &Arc<AtomicBool>) -> Registry {
    let registry = Registry::with_builtins();
    let kept = Arc::clone(kept);
    registry
        .register("keep", move |_: &Info| {
            let keep = Arc::new(Keep::default());
            kept.lock().push(Arc::clone(&keep));
            Ok(Box::new(keep) as Box<dyn Logger>)
        })
        .unwrap();
    let release = Arc::clone(release);
    registry
        .register_driver("stuck", move |_: &Info| Ok(Stuck(Arc::clone(&release))))
        .unwrap();
    registry
        .register_driver("panics", |_: &Info| Ok(Panics))
        .unwrap();
    registry
}

fn lines(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("line {i}").into_bytes()).collect()
}

#[test]
fn a_stuck_branch_in_non_blocking_mode_costs_the_others_nothing() {
    let kept = Arc::default();
    let release = Arc::new(AtomicBool::new(false));
    let registry = registry(&kept, &release);
    let info = Info::new("web")
        .with_option("tee-drivers", "local:keep,remote:stuck")
        .with_option("remote.mode", "non-blocking")
        .with_option("remote.max-buffer-size", "4k")
        .with_option("remote.non-blocking-close-timeout", "100ms");
    let tee = registry.create("tee", &info).unwrap();
    for line in lines(10_000) {
        // The stuck branch drops what its buffer cannot hold, counted.
        match tee.log(Message::new(Source::Stdout, line)) {
            Ok(()) | Err(Error::Dropped { .. }) => {}
            Err(other) => panic!("not a drop: {other}"),
        }
    }
    let local = Arc::clone(&kept.lock()[0]);
    assert_eq!(*local.0.lock(), lines(10_000));
    release.store(true, Ordering::Release);
    let _ = tee.close();
    let stats = tee.stats();
    // Every line was handed over twice: kept, sent or counted as dropped.
    assert_eq!(stats.lines + stats.dropped, 20_000, "{stats:?}");
    assert!(stats.dropped > 0, "{stats:?}");
}

#[test]
fn a_panicking_branch_is_an_error_and_the_others_get_every_line() {
    let kept = Arc::default();
    let registry = registry(&kept, &Arc::new(AtomicBool::new(true)));
    let info = Info::new("web").with_option("tee-drivers", "panics,a:keep,b:keep");
    let tee = registry.create("tee", &info).unwrap();
    let err = tee.log(Message::new(Source::Stderr, "x")).unwrap_err();
    assert!(
        matches!(&err, Error::Driver { driver, .. } if driver == "tee"),
        "{err:?}"
    );
    assert!(err.to_string().contains("panics"), "{err}");
    let kept = kept.lock();
    assert_eq!(kept.len(), 2);
    for keep in kept.iter() {
        assert_eq!(*keep.0.lock(), [b"x".to_vec()]);
    }
}

#[test]
fn the_first_reading_branch_reads_back_and_the_counts_are_per_branch_and_summed() {
    let dir = std::env::temp_dir().join(format!("logdriver-tee-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.log");
    let info = Info::new("web")
        .with_log_path(&path)
        .with_option("tee-drivers", "none,json-file,copy:local")
        .with_option("json-file.max-size", "10m")
        .with_option("json-file.tag", "{{.Name}}");
    let tee = logdriver::registry().create("tee", &info).unwrap();
    tee.log(Message::new(Source::Stdout, "hello")).unwrap();
    tee.close().unwrap();
    assert!(tee.reader().is_some());
    // The first branch with a file has the container's path; the others
    // the path and their label.
    assert!(path.exists() && dir.join("c.log.copy").exists());
    assert_eq!(tee.stats().lines, 2, "{:?}", tee.stats());
    let direct = Tee::new([("a", Arc::new(Keep::default()) as Arc<dyn Logger>)]);
    direct.log(Message::new(Source::Stdout, "y")).unwrap();
    assert_eq!(direct.branch_stats()[0].0, "a");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_option_is_checked_naming_the_tee_or_the_branch() {
    let registry = logdriver::registry();
    let check = |pairs: &[(&str, &str)]| {
        let opts = pairs
            .iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        registry.validate("tee", &opts)
    };
    assert!(matches!(
        check(&[]),
        Err(Error::MissingOption { driver, key }) if driver == "tee" && key == "tee-drivers"
    ));
    for bad in ["", "json-file,json-file", "a:tee", "a.b:none", "x:"] {
        assert!(
            matches!(check(&[("tee-drivers", bad)]), Err(Error::InvalidOption { ref driver, ref key, .. }) if driver == "tee" && key == "tee-drivers"),
            "{bad:?}: {:?}",
            check(&[("tee-drivers", bad)])
        );
    }
    // Options go to a branch by its label; the tee takes no other.
    assert!(matches!(
        check(&[("tee-drivers", "json-file"), ("tag", "x")]),
        Err(Error::UnknownOption { driver, key }) if driver == "tee" && key == "tag"
    ));
    assert!(matches!(
        check(&[("tee-drivers", "json-file"), ("max-size", "1m")]),
        Err(Error::UnknownOption { driver, key }) if driver == "tee" && key == "max-size"
    ));
    // A branch's option is checked by its driver, and named by it.
    assert!(matches!(
        check(&[("tee-drivers", "json-file"), ("json-file.max-size", "lots")]),
        Err(Error::InvalidOption { driver, key, .. }) if driver == "json-file" && key == "max-size"
    ));
    assert!(matches!(
        check(&[("tee-drivers", "nosuch")]),
        Err(Error::UnknownDriver { name }) if name == "nosuch"
    ));
    assert!(check(&[
        ("tee-drivers", "json-file, remote:fluentd"),
        ("remote.fluentd-address", "tcp://127.0.0.1:1"),
        ("remote.mode", "non-blocking"),
        ("remote.env", "TENANT_ID"),
        ("mode", "non-blocking"),
    ])
    .is_ok());
    assert_eq!(registry.reads_logs("tee"), Some(true));
    assert!(registry.names().contains(&"tee".to_owned()));
}
