//! A rotation that cannot create its new file deletes nothing.
//!
//! In a test binary of its own: it lowers this process's limit of open
//! files, which would break tests running beside it.

use std::fs;
use std::path::PathBuf;

use logdriver::drivers::jsonfile::JsonFileLogger;
use logdriver::{Info, Logger, Message, Source};
use nix::sys::resource::{getrlimit, setrlimit, Resource};

#[test]
fn a_failed_rotation_keeps_every_file_and_the_next_write_rotates() {
    let dir = std::env::temp_dir().join(format!("logdriver-nofds-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let log = dir.join("c-json.log");
    let info = Info {
        config: [("max-size", "1"), ("max-file", "3")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
        log_path: Some(log.clone()),
        ..Info::default()
    };
    let logger = JsonFileLogger::new(&info).unwrap();
    for line in ["L1", "L2", "L3"] {
        logger.log(Message::new(Source::Stdout, line)).unwrap();
    }
    let files = || {
        let mut names: Vec<(String, String)> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                let path: PathBuf = e.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, fs::read_to_string(&path).unwrap())
            })
            .collect();
        names.sort();
        names
    };
    let before = files();
    assert_eq!(before.len(), 3, "{before:?}");

    // No file can be opened: the lowest free descriptor is the limit.
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let lowest_free = {
        let probe = fs::File::open("/dev/null").unwrap();
        std::os::fd::AsRawFd::as_raw_fd(&probe) as u64
    };
    setrlimit(Resource::RLIMIT_NOFILE, lowest_free, hard).unwrap();
    let results: Vec<_> = ["x1", "x2", "x3"]
        .into_iter()
        .map(|line| logger.log(Message::new(Source::Stdout, line)))
        .collect();
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();

    for result in &results {
        let err = result.as_ref().unwrap_err().to_string();
        assert!(err.contains("Too many open files"), "{err}");
    }
    assert_eq!(files(), before, "a failed rotation changed the files");

    logger.log(Message::new(Source::Stdout, "back")).unwrap();
    logger.close().unwrap();
    let after = files();
    let names: Vec<&str> = after.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["c-json.log", "c-json.log.1", "c-json.log.2"]);
    assert!(after[0].1.contains(r#""log":"back\n""#), "{after:?}");
    assert!(after[1].1.contains(r#""log":"L3\n""#), "{after:?}");
    assert!(after[2].1.contains(r#""log":"L2\n""#), "{after:?}");
    fs::remove_dir_all(&dir).unwrap();
}
