use super::test_support::open;
use super::*;
use crate::message::Source;

#[test]
fn a_closed_log_file_holds_no_file_descriptor() {
    let dir = std::env::temp_dir().join(format!("logdriver-closefd-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let log = open(dir.join("c-json.log"), None, 1, false, Naming::Numbered);
    assert!(log.state.lock().file.is_some());
    log.close();
    assert!(log.state.lock().file.is_none());
    let mut errors = Vec::new();
    log.append(
        std::iter::once(Message::new(Source::Stdout, "late")),
        &mut |e| errors.push(e),
    );
    assert!(matches!(errors[..], [AppendError::Closed]));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compression_jobs_are_bounded_by_max_file() {
    let dir = std::env::temp_dir().join(format!("logdriver-jobs-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let log = open(dir.join("c-json.log"), Some(1), 2, true, Naming::Numbered);
    let mut most = 0;
    for _ in 0..5000 {
        let msg = Message::new(Source::Stdout, "x");
        log.append(std::iter::once(msg), &mut |e| panic!("{e:?}"));
        most = most.max(log.jobs());
    }
    log.close();
    assert!(most <= 1, "{most} jobs were listed at once");
    assert_eq!(log.jobs(), 0);
    fs::remove_dir_all(&dir).unwrap();
}

/// The directory's files and their contents, sorted by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn write(log: &Arc<LogFile>, line: &str) -> Vec<AppendError> {
    let mut errors = Vec::new();
    log.append(
        std::iter::once(Message::new(Source::Stdout, line.to_owned())),
        &mut |e| errors.push(e),
    );
    errors
}

#[test]
fn a_rotation_that_fails_at_any_step_deletes_and_renames_nothing() {
    for naming in [Naming::Numbered, Naming::Stamped] {
        for step in 0..8 {
            let dir = std::env::temp_dir().join(format!(
                "logdriver-failrot-{}-{naming:?}-{step}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            // Every entry rotates the one before it away.
            let log = open(dir.join("c.log"), Some(1), 3, false, naming);
            for line in ["a", "b", "c"] {
                assert!(write(&log, line).is_empty());
            }
            let before = files(&dir);
            assert_eq!(before.len(), 3, "{naming:?}: {before:?}");
            *log.fail_rename_at.lock() = Some(step);
            if write(&log, "d").is_empty() {
                // This rotation has fewer renames than `step`.
                assert!(step >= 2, "{naming:?} step {step}");
            } else {
                assert_eq!(files(&dir), before, "{naming:?} step {step}");
                // The next write rotates as if nothing had happened.
                assert!(write(&log, "e").is_empty());
                let after = files(&dir);
                let contents: Vec<&[u8]> = after.iter().map(|(_, c)| &c[..]).collect();
                assert_eq!(after.len(), 3, "{naming:?} step {step}: {after:?}");
                for kept in [&b"b\n"[..], b"c\n", b"e\n"] {
                    assert!(
                        contents.contains(&kept),
                        "{naming:?} step {step}: {after:?}"
                    );
                }
            }
            log.close();
            fs::remove_dir_all(&dir).unwrap();
        }
    }
}

#[test]
fn a_compressor_that_cannot_start_leaves_the_rotated_file_plain() {
    let dir = std::env::temp_dir().join(format!("logdriver-nogzip-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let log = open(dir.join("c.log"), Some(1), 3, true, Naming::Numbered);
    log.fail_spawn
        .store(true, std::sync::atomic::Ordering::Relaxed);
    for line in ["a", "b"] {
        assert!(write(&log, line).is_empty());
    }
    assert_eq!(
        files(&dir),
        [
            ("c.log".into(), b"b\n".to_vec()),
            ("c.log.1".into(), b"a\n".to_vec())
        ]
    );
    assert_eq!(log.jobs(), 0);
    log.close();
    fs::remove_dir_all(&dir).unwrap();
}
