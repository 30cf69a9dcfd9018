//! `/LogDriver.ReadLogs`: a container's log, streamed to dockerd as
//! framed `LogEntry`s.

use std::thread;
use std::time::{Duration, UNIX_EPOCH};

use crossbeam_channel::RecvTimeoutError;

use super::http::Responder;
use crate::log_entry;
use crate::message::Message;
use crate::read::LogStream;

/// How often a follower that has nothing to send checks that its client
/// is still there.
const CLIENT_CHECK: Duration = Duration::from_millis(250);

/// The most bytes of frames sent as one chunk.
const MAX_CHUNK: usize = 256 * 1024;

/// How many encoded entries wait between the reader and the socket.
const QUEUE: usize = 1024;

/// One entry, framed as dockerd reads it.
fn frame(msg: &Message, out: &mut Vec<u8>) {
    // dockerd hands `Line` to `docker logs` as it is: with its newline.
    let mut line = msg.line.to_vec();
    if msg.ends_line() {
        line.push(b'\n');
    }
    // A time before 1970 goes as 0, one past 2262 as the last nanosecond.
    let timestamp = match msg.timestamp.duration_since(UNIX_EPOCH) {
        Err(_) => UNIX_EPOCH,
        Ok(d) if d.as_nanos() > i64::MAX as u128 => {
            UNIX_EPOCH + Duration::from_nanos(i64::MAX as u64)
        }
        Ok(_) => msg.timestamp,
    };
    let entry = Message {
        line: line.into(),
        source: msg.source,
        timestamp,
        partial: None,
    };
    // Cannot fail: the time is in range now, and a record is far under 4 GiB.
    let _ = log_entry::put_framed(out, &entry, &[]);
}

/// Streams `logs` as the answer: a reader thread decodes entries, and this
/// one sends whatever has arrived as one chunk, at once. While there is
/// nothing to send, it checks every [`CLIENT_CHECK`] that the client is
/// still there; once it is gone, both threads end.
pub(super) fn stream(logs: LogStream, out: &mut Responder<'_>) {
    let stopper = logs.stopper();
    let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(QUEUE);
    let reader = thread::Builder::new()
        .name("logdriver-plugin-readlogs".into())
        .spawn(move || {
            for msg in logs {
                // A corrupt entry is skipped, as dockerd's own reader does.
                let Ok(msg) = msg else { continue };
                let mut buf = Vec::new();
                frame(&msg, &mut buf);
                if tx.send(buf).is_err() {
                    return;
                }
            }
        });
    if reader.is_err() {
        out.send(
            500,
            super::requests::JSON,
            br#"{"Err":"cannot start a reader thread"}"#,
        );
        return;
    }
    let Ok(mut body) = out.stream("application/x-json-stream") else {
        stopper.stop();
        return;
    };
    let mut chunk = Vec::new();
    loop {
        match rx.recv_timeout(CLIENT_CHECK) {
            Ok(first) => {
                chunk.clear();
                chunk.extend_from_slice(&first);
                while chunk.len() < MAX_CHUNK {
                    let Ok(more) = rx.try_recv() else { break };
                    chunk.extend_from_slice(&more);
                }
                if body.send(&chunk).is_err() {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if body.client_gone() {
                    break;
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                let _ = body.finish();
                return;
            }
        }
    }
    // The client is gone: let the reader go.
    stopper.stop();
}
