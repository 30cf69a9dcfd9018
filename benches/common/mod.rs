//! Helpers shared by the benchmarks.
#![allow(dead_code)] // each benchmark uses its own subset

use std::io::{self, PipeReader, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use logdriver::{Logger, Message, Result, Source};

/// Bytes written into each pipe per iteration.
pub const BYTES_PER_SOURCE: usize = 8 << 20;

/// One counter per source, on its own cache line, so that the two copying
/// threads do not share one.
#[derive(Default)]
#[repr(align(128))]
pub struct Padded(pub AtomicU64);

/// Counts lines per source and does nothing else.
#[derive(Default)]
pub struct Count(pub [Padded; 2]);

impl Count {
    pub fn add(&self, source: Source) {
        self.0[source as usize].0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
    }
}

impl Logger for Count {
    fn log(&self, msg: Message) -> Result<()> {
        self.add(msg.source);
        Ok(())
    }
    fn name(&self) -> &str {
        "count"
    }
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// `BYTES_PER_SOURCE` bytes of `line_len`-byte lines, newlines included.
pub fn lines_of(line_len: usize) -> Vec<u8> {
    let mut line = vec![b'x'; line_len];
    line[line_len - 1] = b'\n';
    line.repeat(BYTES_PER_SOURCE / line_len)
}

/// Two OS pipes, each fed `data` by a writer thread of its own.
pub fn feed(data: &Arc<Vec<u8>>) -> [PipeReader; 2] {
    [0, 1].map(|_| {
        let (reader, mut writer) = io::pipe().unwrap();
        let data = Arc::clone(data);
        thread::spawn(move || writer.write_all(&data).unwrap());
        reader
    })
}
