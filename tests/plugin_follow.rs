//! `docker logs -f` through the plugin: each batch reaches the client at
//! once, and followers whose client has gone end.
//!
//! In a test binary of its own: it counts the process's threads.
#![cfg(feature = "plugin")]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use std::fs::{File, OpenOptions};

use logdriver::plugin::{encode_frame, LogEntry, Plugin};
use logdriver::registry;

/// The process's threads, as the kernel counts them.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Sends a follow ReadLogs for container `c1` and reads the answer's head.
fn follow(socket: &std::path::Path, version: &str) -> BufReader<UnixStream> {
    let body = r#"{"Info":{"ContainerID":"c1"},"Config":{"Follow":true,"Tail":-1}}"#;
    let mut stream = UnixStream::connect(socket).unwrap();
    write!(
        stream,
        "POST /LogDriver.ReadLogs {version}\r\nHost: plugin\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with(&format!("{version} 200")), "{line:?}");
    while line != "\r\n" {
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    reader
}

/// POSTs `body` to `url` and returns the status.
fn post(socket: &std::path::Path, url: &str, body: &str) -> u16 {
    let mut stream = UnixStream::connect(socket).unwrap();
    write!(
        stream,
        "POST {url} HTTP/1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer[9..12].parse().unwrap()
}

/// A FIFO opened as dockerd opens it, read-write.
fn fifo(path: &std::path::Path) -> File {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success());
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

/// Writes one stdout entry into the container's FIFO.
fn write_line(fifo: &mut File, line: &str) {
    let entry = LogEntry {
        source: "stdout".into(),
        time_nano: 1_764_205_323_000_000_000,
        line: line.to_owned().into(),
        ..LogEntry::default()
    };
    let mut frame = Vec::new();
    encode_frame(&entry, &mut frame);
    fifo.write_all(&frame).unwrap();
}

/// Reads frames of the body until `n` entries came; returns their lines.
/// `chunked` bodies are unwrapped first.
fn entries(reader: &mut BufReader<UnixStream>, chunked: bool, n: usize) -> Vec<String> {
    let mut body = Vec::new();
    let mut out = Vec::new();
    while out.len() < n {
        if chunked {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            body.extend_from_slice(&chunk[..size]);
        } else {
            let mut byte = [0; 1];
            reader.read_exact(&mut byte).unwrap();
            body.push(byte[0]);
        }
        while body.len() >= 4 {
            let len = u32::from_be_bytes(body[..4].try_into().unwrap()) as usize;
            if body.len() < 4 + len {
                break;
            }
            let entry: LogEntry = prost::Message::decode(&body[4..4 + len]).unwrap();
            out.push(String::from_utf8(entry.line.to_vec()).unwrap());
            body.drain(..4 + len);
        }
    }
    out
}

#[test]
fn followers_get_each_line_at_once_and_end_when_their_client_goes() {
    let dir = std::env::temp_dir().join(format!("logdriver-follow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let server = Plugin::new(registry(), "json-file")
        .log_dir(dir.join("logs"))
        .serve(dir.join("plugin.sock"))
        .unwrap();
    let fifo_path = dir.join("c1.fifo");
    let mut fifo = fifo(&fifo_path);
    let start = format!(r#"{{"File":{fifo_path:?},"Info":{{"ContainerID":"c1"}}}}"#);
    assert_eq!(post(server.path(), "/LogDriver.StartLogging", &start), 200);
    for i in 0..10 {
        write_line(&mut fifo, &format!("old {i}"));
    }
    let idle = threads();

    // Each new line reaches both kinds of client before the next is written.
    let mut http11 = follow(server.path(), "HTTP/1.1");
    let mut http10 = follow(server.path(), "HTTP/1.0");
    let old: Vec<String> = (0..10).map(|i| format!("old {i}\n")).collect();
    assert_eq!(entries(&mut http11, true, 10), old);
    assert_eq!(entries(&mut http10, false, 10), old);
    for i in 0..5 {
        let line = format!("new {i}");
        write_line(&mut fifo, &line);
        assert_eq!(entries(&mut http11, true, 1), [format!("{line}\n")]);
        assert_eq!(entries(&mut http10, false, 1), [format!("{line}\n")]);
    }
    drop((http11, http10));

    // Twenty followers that go away, on a container that stays quiet.
    let followers: Vec<_> = (0..20).map(|_| follow(server.path(), "HTTP/1.1")).collect();
    assert!(threads() >= idle + 20);
    drop(followers);
    let deadline = Instant::now() + Duration::from_secs(20);
    while threads() > idle {
        assert!(
            Instant::now() < deadline,
            "{} threads left, {idle} before",
            threads()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stop = format!(r#"{{"File":{fifo_path:?}}}"#);
    assert_eq!(post(server.path(), "/LogDriver.StopLogging", &stop), 200);
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}
