//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test file uses its own subset

pub mod law;

use std::collections::VecDeque;

use logdriver::{Error, Logger, Message, Result};
use parking_lot::Mutex;

/// A driver that keeps every message, in order.
#[derive(Default)]
pub struct Collect(pub Mutex<Vec<Message>>);

impl Logger for Collect {
    fn log(&self, msg: Message) -> Result<()> {
        self.0.lock().push(msg);
        Ok(())
    }
    fn name(&self) -> &str {
        "collect"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// A driver that prefers batches and keeps the lines of each batch it
/// got, as text. It fails each line that starts with "fail", panics on
/// one that starts with "boom", and does both on one that starts with
/// "both". `log` goes through `log_batch`, as a batch of one.
#[derive(Default)]
pub struct Batches(pub Mutex<Vec<Vec<String>>>);

impl Batches {
    /// Every line it took, in order.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().concat()
    }

    /// How many messages each `log_batch` call got.
    pub fn sizes(&self) -> Vec<usize> {
        self.0.lock().iter().map(Vec::len).collect()
    }
}

impl Logger for Batches {
    fn log(&self, msg: Message) -> Result<()> {
        let mut result = Ok(());
        self.log_batch(&mut VecDeque::from([msg]), &mut |err| result = Err(err));
        result
    }
    fn log_batch(&self, batch: &mut VecDeque<Message>, failed: &mut dyn FnMut(Error)) {
        let mut taken = Vec::new();
        while let Some(msg) = batch.pop_front() {
            let line = String::from_utf8(msg.line.to_vec()).unwrap();
            let (fails, panics) = match line.split('-').next() {
                Some("fail") => (true, false),
                Some("boom") => (false, true),
                Some("both") => (true, true),
                _ => (false, false),
            };
            if fails {
                failed(Error::driver("batches", format!("cannot take {line}")));
            }
            if panics {
                self.0.lock().push(taken);
                panic!("boom at {line}");
            }
            if !fails {
                taken.push(line);
            }
        }
        self.0.lock().push(taken);
    }
    fn prefers_batches(&self) -> bool {
        true
    }
    fn name(&self) -> &str {
        "batches"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// Keeps the tests' output readable: silences panics on threads whose
/// name starts with `prefix` (the drivers' deliberate panics), and only
/// those. Installed once per test binary.
pub fn silence_panics_on(prefix: &'static str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(prefix))
            {
                default_hook(info);
            }
        }));
    });
}

/// A fresh directory for one test, removed when dropped, with the path of
/// the log file a file driver writes in it.
pub struct TempDir(pub std::path::PathBuf, &'static str);

impl TempDir {
    /// `<tmp>/logdriver-<prefix>-<pid>-<n>`, empty; the log is `log_name`.
    pub fn new(prefix: &str, log_name: &'static str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("logdriver-{prefix}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir, log_name)
    }

    /// The log file's path.
    pub fn log(&self) -> std::path::PathBuf {
        self.0.join(self.1)
    }

    /// The directory's file names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A driver that fails on every line, by error or by panic, and counts
/// its calls.
pub struct Broken {
    pub panics: bool,
    pub calls: std::sync::atomic::AtomicU64,
}

impl Broken {
    pub fn new(panics: bool) -> Broken {
        Broken {
            panics,
            calls: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Logger for Broken {
    fn log(&self, _msg: Message) -> Result<()> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.panics {
            panic!("driver exploded");
        }
        Err(Error::driver(
            "broken",
            std::io::Error::other("hub unreachable"),
        ))
    }
    fn name(&self) -> &str {
        "broken"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}
