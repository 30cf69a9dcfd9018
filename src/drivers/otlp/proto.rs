//! The OTLP protobuf messages this driver sends, written by hand straight
//! into the queue's buffer (no message structs, no copy of a line but the
//! one into the buffer), and the one answer it reads.
//!
//! The field numbers are those of `opentelemetry/proto/logs/v1/logs.proto`,
//! `common/v1/common.proto` and `collector/logs/v1/logs_service.proto`.

use bytes::{BufMut, BytesMut};

/// Where messages are written: a `Vec`, the queue's `BytesMut`, or a
/// record's head on the stack.
pub(super) trait Out {
    fn put_u8(&mut self, b: u8);
    fn put_slice(&mut self, bytes: &[u8]);
    fn put_u64_le(&mut self, v: u64) {
        self.put_slice(&v.to_le_bytes());
    }
}

impl Out for Vec<u8> {
    fn put_u8(&mut self, b: u8) {
        self.push(b);
    }
    fn put_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Out for BytesMut {
    fn put_u8(&mut self, b: u8) {
        BufMut::put_u8(self, b);
    }
    fn put_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Wire types.
const LEN: u8 = 2;
const FIXED64: u8 = 1;
const VARINT: u8 = 0;

/// `ExportLogsServiceRequest.resource_logs`.
const REQUEST_RESOURCE_LOGS: u32 = 1;
/// `ResourceLogs.resource`, `ResourceLogs.scope_logs`.
const RESOURCE_LOGS_RESOURCE: u32 = 1;
const RESOURCE_LOGS_SCOPE_LOGS: u32 = 2;
/// `Resource.attributes`.
const RESOURCE_ATTRIBUTES: u32 = 1;
/// `ScopeLogs.scope`, `ScopeLogs.log_records`.
const SCOPE_LOGS_SCOPE: u32 = 1;
const SCOPE_LOGS_LOG_RECORDS: u32 = 2;
/// `InstrumentationScope.name`, `.version`.
const SCOPE_NAME: u32 = 1;
const SCOPE_VERSION: u32 = 2;
/// `LogRecord`'s fields.
const RECORD_TIME: u32 = 1;
const RECORD_SEVERITY_NUMBER: u32 = 2;
const RECORD_SEVERITY_TEXT: u32 = 3;
const RECORD_BODY: u32 = 5;
const RECORD_ATTRIBUTES: u32 = 6;
const RECORD_OBSERVED_TIME: u32 = 11;
/// `KeyValue.key`, `KeyValue.value`.
const KV_KEY: u32 = 1;
const KV_VALUE: u32 = 2;
/// `AnyValue`'s variants.
const ANY_STRING: u32 = 1;
const ANY_BOOL: u32 = 2;
const ANY_INT: u32 = 3;
const ANY_BYTES: u32 = 7;

/// The bytes of `v` as a varint.
pub(super) const fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut impl Out, mut v: u64) {
    while v >= 0x80 {
        out.put_u8(v as u8 | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

fn tag_len(field: u32) -> usize {
    varint_len(u64::from(field) << 3)
}

fn put_tag(out: &mut impl Out, field: u32, wire: u8) {
    put_varint(out, u64::from(field) << 3 | u64::from(wire));
}

/// The bytes of a length-delimited field whose contents are `n` bytes.
fn len_field(field: u32, n: usize) -> usize {
    tag_len(field) + varint_len(n as u64) + n
}

fn put_len_head(out: &mut impl Out, field: u32, n: usize) {
    put_tag(out, field, LEN);
    put_varint(out, n as u64);
}

fn put_bytes(out: &mut impl Out, field: u32, bytes: &[u8]) {
    put_len_head(out, field, bytes.len());
    out.put_slice(bytes);
}

/// An attribute's value.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
}

impl Value<'_> {
    /// The bytes of the `AnyValue` message.
    fn len(self) -> usize {
        match self {
            Value::Str(s) => len_field(ANY_STRING, s.len()),
            Value::Int(n) => tag_len(ANY_INT) + varint_len(n as u64),
            Value::Bool(_) => tag_len(ANY_BOOL) + 1,
        }
    }

    fn put(self, out: &mut impl Out) {
        match self {
            Value::Str(s) => put_bytes(out, ANY_STRING, s.as_bytes()),
            Value::Int(n) => {
                put_tag(out, ANY_INT, VARINT);
                put_varint(out, n as u64);
            }
            Value::Bool(b) => {
                put_tag(out, ANY_BOOL, VARINT);
                out.put_u8(u8::from(b));
            }
        }
    }
}

/// The bytes of a `KeyValue` message.
fn key_value_len(key: &str, value: Value<'_>) -> usize {
    len_field(KV_KEY, key.len()) + len_field(KV_VALUE, value.len())
}

/// A `KeyValue` as field `field` of its parent.
fn put_key_value(out: &mut impl Out, field: u32, key: &str, value: Value<'_>) {
    put_len_head(out, field, key_value_len(key, value));
    put_bytes(out, KV_KEY, key.as_bytes());
    put_len_head(out, KV_VALUE, value.len());
    value.put(out);
}

/// Field 1 of `ResourceLogs`: the `Resource` with these attributes.
pub(super) fn resource<'a>(attributes: impl IntoIterator<Item = (&'a str, Value<'a>)>) -> Vec<u8> {
    let mut attrs = Vec::new();
    for (key, value) in attributes {
        put_key_value(&mut attrs, RESOURCE_ATTRIBUTES, key, value);
    }
    let mut out = Vec::with_capacity(attrs.len() + 4);
    put_bytes(&mut out, RESOURCE_LOGS_RESOURCE, &attrs);
    out
}

/// Field 1 of `ScopeLogs`: the `InstrumentationScope` named `name`.
pub(super) fn scope(name: &str, version: &str) -> Vec<u8> {
    let mut scope = Vec::new();
    put_bytes(&mut scope, SCOPE_NAME, name.as_bytes());
    put_bytes(&mut scope, SCOPE_VERSION, version.as_bytes());
    let mut out = Vec::with_capacity(scope.len() + 2);
    put_bytes(&mut out, SCOPE_LOGS_SCOPE, &scope);
    out
}

/// What every record of one stream has in common: its severity and its
/// `log.iostream` attribute, encoded once.
pub(super) fn stream_fields(severity: Option<(u8, &str)>, iostream: &str) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some((number, text)) = severity {
        put_tag(&mut out, RECORD_SEVERITY_NUMBER, VARINT);
        put_varint(&mut out, u64::from(number));
        put_bytes(&mut out, RECORD_SEVERITY_TEXT, text.as_bytes());
    }
    put_key_value(
        &mut out,
        RECORD_ATTRIBUTES,
        "log.iostream",
        Value::Str(iostream),
    );
    out
}

/// The attributes of one part of a line longer than the join bound.
#[derive(Debug, Clone, Copy)]
pub(super) struct Part<'a> {
    pub(super) id: &'a str,
    pub(super) ordinal: u32,
    pub(super) last: bool,
}

pub(super) const PARTIAL_ID: &str = "logdriver.partial.id";
pub(super) const PARTIAL_ORDINAL: &str = "logdriver.partial.ordinal";
pub(super) const PARTIAL_LAST: &str = "logdriver.partial.last";

impl Part<'_> {
    fn attributes(self) -> [(&'static str, Value<'static>); 2] {
        [
            (PARTIAL_ORDINAL, Value::Int(i64::from(self.ordinal))),
            (PARTIAL_LAST, Value::Bool(self.last)),
        ]
    }

    fn len(self) -> usize {
        let id = len_field(
            RECORD_ATTRIBUTES,
            key_value_len(PARTIAL_ID, Value::Str(self.id)),
        );
        self.attributes()
            .iter()
            .map(|&(k, v)| len_field(RECORD_ATTRIBUTES, key_value_len(k, v)))
            .sum::<usize>()
            + id
    }

    fn put(self, out: &mut impl Out) {
        put_key_value(out, RECORD_ATTRIBUTES, PARTIAL_ID, Value::Str(self.id));
        for (k, v) in self.attributes() {
            put_key_value(out, RECORD_ATTRIBUTES, k, v);
        }
    }
}

/// A record's head, put together on the stack.
struct Head {
    buf: [u8; 192],
    len: usize,
}

impl Default for Head {
    fn default() -> Head {
        Head {
            buf: [0; 192],
            len: 0,
        }
    }
}

impl Head {
    fn room(&self) -> usize {
        self.buf.len() - self.len
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Out for Head {
    fn put_u8(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

/// One log record, before it is written.
#[derive(Debug, Clone, Copy)]
pub(super) struct Record<'a> {
    pub(super) time_unix_nano: u64,
    pub(super) observed_unix_nano: u64,
    /// From [`stream_fields`].
    pub(super) stream: &'a [u8],
    /// The line's bytes, as the body's `string_value` when they are UTF-8
    /// and as its `bytes_value` when not.
    pub(super) body: &'a [u8],
    pub(super) part: Option<Part<'a>>,
    /// `string_value` or `bytes_value`, as `body` is UTF-8 or not.
    body_field: u32,
    /// The bytes of the `LogRecord` message, worked out once.
    message_len: usize,
}

impl<'a> Record<'a> {
    pub(super) fn new(
        time_unix_nano: u64,
        observed_unix_nano: u64,
        stream: &'a [u8],
        body: &'a [u8],
        part: Option<Part<'a>>,
    ) -> Record<'a> {
        let body_field = if std::str::from_utf8(body).is_ok() {
            ANY_STRING
        } else {
            ANY_BYTES
        };
        let times = 2 * 8 + tag_len(RECORD_TIME) + tag_len(RECORD_OBSERVED_TIME);
        let body_len = len_field(RECORD_BODY, len_field(body_field, body.len()));
        let message_len = times + stream.len() + body_len + part.map_or(0, Part::len);
        Record {
            time_unix_nano,
            observed_unix_nano,
            stream,
            body,
            part,
            body_field,
            message_len,
        }
    }

    /// Writes the record as field 2 of `ScopeLogs` (a repeated field, so
    /// that records written one after another make a batch). Returns the
    /// bytes written.
    ///
    /// Everything before the body is put together on the stack first: one
    /// copy into `out` for it and one for the body, rather than a capacity
    /// check for every byte of the head.
    pub(super) fn put(&self, out: &mut impl Out) -> usize {
        let (body_field, n) = (self.body_field, self.message_len);
        let mut head = Head::default();
        put_len_head(&mut head, SCOPE_LOGS_LOG_RECORDS, n);
        put_tag(&mut head, RECORD_TIME, FIXED64);
        head.put_u64_le(self.time_unix_nano);
        put_tag(&mut head, RECORD_OBSERVED_TIME, FIXED64);
        head.put_u64_le(self.observed_unix_nano);
        if self.stream.len() <= head.room() - 3 * 11 {
            head.put_slice(self.stream);
        } else {
            out.put_slice(head.bytes());
            out.put_slice(self.stream);
            head.len = 0;
        }
        put_len_head(
            &mut head,
            RECORD_BODY,
            len_field(body_field, self.body.len()),
        );
        put_len_head(&mut head, body_field, self.body.len());
        out.put_slice(head.bytes());
        out.put_slice(self.body);
        if let Some(part) = self.part {
            part.put(out);
        }
        len_field(SCOPE_LOGS_LOG_RECORDS, n)
    }

    /// The bytes [`put`](Record::put) writes.
    pub(super) fn len(&self) -> usize {
        len_field(SCOPE_LOGS_LOG_RECORDS, self.message_len)
    }
}

/// The start of an `ExportLogsServiceRequest` whose one `ResourceLogs`
/// holds `resource`, and whose one `ScopeLogs` holds `scope` and then
/// `records` bytes of records: what goes before the records.
pub(super) fn request_head(resource: &[u8], scope: &[u8], records: usize) -> Vec<u8> {
    let scope_logs = scope.len() + records;
    let resource_logs = resource.len() + len_field(RESOURCE_LOGS_SCOPE_LOGS, scope_logs);
    let mut out = Vec::with_capacity(resource.len() + scope.len() + 16);
    put_len_head(&mut out, REQUEST_RESOURCE_LOGS, resource_logs);
    out.extend_from_slice(resource);
    put_len_head(&mut out, RESOURCE_LOGS_SCOPE_LOGS, scope_logs);
    out.extend_from_slice(scope);
    out
}

/// `ExportLogsServiceResponse`, read with prost.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct ExportLogsServiceResponse {
    #[prost(message, optional, tag = "1")]
    pub(super) partial_success: Option<ExportLogsPartialSuccess>,
}

/// `ExportLogsPartialSuccess`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct ExportLogsPartialSuccess {
    #[prost(int64, tag = "1")]
    pub(super) rejected_log_records: i64,
    #[prost(string, tag = "2")]
    pub(super) error_message: String,
}

/// The records a collector's answer says it rejected, and why: `None`
/// for a full success (or an answer that is not protobuf, which a
/// collector sends only for a full success: the status said so).
pub(super) fn rejected(answer: &[u8]) -> Option<(u64, String)> {
    let response = <ExportLogsServiceResponse as prost::Message>::decode(answer).ok()?;
    let partial = response.partial_success?;
    (partial.rejected_log_records > 0 || !partial.error_message.is_empty()).then(|| {
        (
            partial.rejected_log_records.max(0) as u64,
            partial.error_message,
        )
    })
}
