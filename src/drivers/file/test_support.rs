//! A plain format for the file module's own tests: each line, then `\n`.

use super::*;

pub(crate) struct Plain;

impl Encode for Plain {
    fn encode(&mut self, out: &mut Vec<u8>, msg: &Message) -> Result<(), YearOutOfRange> {
        out.extend_from_slice(&msg.line);
        out.push(b'\n');
        Ok(())
    }
}

impl read::Decode for Plain {
    fn decode(&mut self, _: &Path, _: u64, raw: &[u8]) -> crate::Result<Message> {
        let line = raw.strip_suffix(b"\n").unwrap_or(raw).to_vec();
        Ok(Message::new(crate::message::Source::Stdout, line))
    }
}

pub(crate) fn open(
    path: PathBuf,
    max_size: Option<u64>,
    max_file: usize,
    compress: bool,
    naming: Naming,
) -> Arc<LogFile> {
    let rotation = Rotation {
        max_size,
        max_file,
        compress,
        naming,
    };
    LogFile::open(path, rotation, Box::new(Plain)).unwrap()
}
