//! The `binary://` launcher against real processes: shell scripts that
//! record what they got, and the failures a logger can have.
#![cfg(feature = "containerd")]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use logdriver::containerd::{LaunchError, Launcher, StoppedBy};

/// A scratch directory of the test's own.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("logdriver-launcher-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An executable `sh` script at `dir/logger`. Its environment holds no
/// `PATH`, so it names every program by its path.
fn script(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("logger");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn uri(path: &Path, query: &str) -> String {
    format!("binary://{}{query}", path.display())
}

#[test]
fn a_logger_gets_containerds_contract_and_every_byte() {
    let dir = scratch("contract");
    let d = dir.display();
    let logger = script(
        &dir,
        &format!(
            r#"{{ echo "args: $*"; /usr/bin/tr '\0' '\n' </proc/$$/environ; /bin/ls -l /proc/$$/fd/; }} >{d}/record
printf x >&5
exec 5>&-
/bin/cat <&3 >{d}/out &
/bin/cat <&4 >{d}/err
wait"#
        ),
    );
    // A descriptor this process leaves inheritable: not the logger's.
    let marker = std::fs::File::create(dir.join("leak-marker")).unwrap();
    let leaked = nix::unistd::dup(&marker).unwrap();
    let launcher = Launcher::new(&uri(
        &logger,
        "?driver=zmq&zmq-address=tcp%3A%2F%2Fh%3A1&driver=x",
    ))
    .unwrap();
    assert_eq!(
        launcher.args(),
        ["driver", "zmq", "zmq-address", "tcp://h:1"]
    );
    let mut launched = launcher.launch("f00d5eed", "k8s.io").unwrap();
    let (mut stdout, mut stderr) = launched.take_stdio().unwrap();
    assert!(launched.take_stdio().is_none());
    let mut want_out = Vec::new();
    for i in 0..20_000 {
        let line = format!("out {i}\n");
        stdout.write_all(line.as_bytes()).unwrap();
        want_out.extend_from_slice(line.as_bytes());
    }
    stderr.write_all(b"no newline").unwrap();
    drop((stdout, stderr));
    let stopped = launched.stop().unwrap();
    assert_eq!(stopped.by, StoppedBy::Drained);
    assert!(stopped.status.success(), "{:?}", stopped.status);
    assert_eq!(std::fs::read(dir.join("out")).unwrap(), want_out);
    assert_eq!(std::fs::read(dir.join("err")).unwrap(), b"no newline");

    let record = std::fs::read_to_string(dir.join("record")).unwrap();
    let mut lines = record.lines();
    assert_eq!(lines.next(), Some("args: driver zmq zmq-address tcp://h:1"));
    let env: Vec<&str> = lines.by_ref().take(2).collect();
    assert_eq!(env, ["CONTAINER_ID=f00d5eed", "CONTAINER_NAMESPACE=k8s.io"]);
    // fds 0 and 2 are /dev/null (1 is too, moved aside by the shell while
    // it writes this record), 3 and 4 read pipes, 5 was the ready pipe's
    // write end; the rest is the shell's own: its script. Nothing else,
    // and never the leaked descriptor.
    let fds: Vec<&str> = lines.filter(|l| l.contains(" -> ")).collect();
    for (fd, target) in [
        ("0", "/dev/null"),
        ("2", "/dev/null"),
        ("3", "pipe:"),
        ("4", "pipe:"),
        ("5", "pipe:"),
    ] {
        assert!(
            fds.iter()
                .any(|l| l.contains(&format!(" {fd} -> {target}"))),
            "fd {fd} is not {target}: {fds:?}"
        );
    }
    let known = ["/dev/null", "pipe:", "/logger", "/record"];
    for l in &fds {
        let target = l.split(" -> ").nth(1).unwrap();
        assert!(
            known.iter().any(|k| target.contains(k)),
            "an fd the logger should not have: {l}"
        );
    }
    assert!(!record.contains("leak-marker"), "{record}");
    drop(leaked);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_logger_that_does_not_exist_is_an_error_that_names_it() {
    let err = Launcher::new("binary:///nonexistent/logger")
        .unwrap()
        .launch("id", "default")
        .unwrap_err();
    match &err {
        LaunchError::Spawn { logger, source } => {
            assert_eq!(logger, Path::new("/nonexistent/logger"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("not a spawn error: {other:?}"),
    }
    assert!(err.to_string().contains("/nonexistent/logger"), "{err}");
}

#[test]
fn a_logger_that_exits_at_once_is_not_taken_for_ready() {
    let dir = scratch("exits");
    let logger = script(&dir, "exit 3");
    match Launcher::new(&uri(&logger, ""))
        .unwrap()
        .launch("id", "default")
    {
        Err(LaunchError::ExitedBeforeReady { logger: l, status }) => {
            assert_eq!(l, logger);
            assert_eq!(status.code(), Some(3));
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_logger_that_never_signals_ready_is_killed_after_the_timeout() {
    let dir = scratch("never-ready");
    let logger = script(&dir, "exec /bin/sleep 1000");
    let launcher = Launcher::new(&uri(&logger, ""))
        .unwrap()
        .ready_timeout(Duration::from_millis(300));
    match launcher.launch("id", "default") {
        Err(LaunchError::NotReady { logger: l, timeout }) => {
            assert_eq!((l, timeout), (logger, Duration::from_millis(300)));
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_logger_that_ignores_sigterm_is_killed_and_one_that_takes_it_exits() {
    let dir = scratch("sigterm");
    // Ready, then never reads, never exits, and ignores SIGTERM.
    let stubborn = script(
        &dir,
        "trap '' TERM\nprintf x >&5\nwhile :; do /bin/sleep 1; done",
    );
    let launched = Launcher::new(&uri(&stubborn, ""))
        .unwrap()
        .drain_timeout(Duration::from_millis(100))
        .term_timeout(Duration::from_millis(300))
        .launch("id", "default")
        .unwrap();
    let stopped = launched.stop().unwrap();
    assert_eq!(stopped.by, StoppedBy::Kill);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&stopped.status),
        Some(9)
    );

    // One that takes SIGTERM (the default) after the drain time is up.
    let sleeper = script(&dir, "printf x >&5\nexec /bin/sleep 1000");
    let launched = Launcher::new(&uri(&sleeper, ""))
        .unwrap()
        .drain_timeout(Duration::from_millis(100))
        .launch("id", "default")
        .unwrap();
    let stopped = launched.stop().unwrap();
    assert_eq!(stopped.by, StoppedBy::Term);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&stopped.status),
        Some(15)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_end_of_the_ready_pipe_from_a_running_logger_is_ready_as_in_containerd() {
    let dir = scratch("ready-eof");
    let logger = script(&dir, "exec 5>&-\nexec /bin/cat <&3 >/dev/null");
    let mut launched = Launcher::new(&uri(&logger, ""))
        .unwrap()
        .launch("id", "default")
        .unwrap();
    drop(launched.take_stdio());
    assert_eq!(launched.stop().unwrap().by, StoppedBy::Drained);
    std::fs::remove_dir_all(&dir).unwrap();
}
