use super::*;

fn parse(raw: &[u8]) -> Result<(Request, bool, bool), BadRequest> {
    read_request(&mut BufReader::new(raw))
}

#[test]
fn reads_a_request_with_a_length() {
    let raw = b"POST /Plugin.Activate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    let Ok((req, http11, close)) = parse(raw) else {
        panic!("not parsed")
    };
    assert_eq!(
        (req.url.as_str(), &req.body[..]),
        ("/Plugin.Activate", &b"{}"[..])
    );
    assert!(http11 && !close);
}

#[test]
fn reads_a_chunked_request_and_http10_closes() {
    let raw = b"POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n2;x=y\r\n\":\r\n0\r\n\r\n";
    let Ok((req, http11, close)) = parse(raw) else {
        panic!("not parsed")
    };
    assert_eq!(req.body, b"{\"a\":");
    assert!(!http11 && close);
}

#[test]
fn a_streamed_answer_is_chunked_and_ends_the_connection() {
    let (server, mut client) = UnixStream::pair().unwrap();
    let mut responder = Responder {
        stream: &server,
        http11: true,
        close: false,
    };
    let mut body = responder.stream("application/x-json-stream").unwrap();
    body.send(b"abc").unwrap();
    body.finish().unwrap();
    assert!(responder.close);
    drop(server);
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert_eq!(
        answer,
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-json-stream\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    );
}

#[test]
fn malformed_requests_are_refused() {
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"POST / HTTP/2\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
        b"POST / HTTP/1.1\r\nno colon\r\n\r\n",
    ] {
        assert!(
            matches!(parse(raw), Err(BadRequest::Malformed(_))),
            "{raw:?}"
        );
    }
    assert!(matches!(parse(b""), Err(BadRequest::Closed)));
}

#[test]
fn connection_slots_are_bounded_and_given_back() {
    let slots = Slots::default();
    let (a, b) = (slots.take(2).unwrap(), slots.take(2).unwrap());
    assert!(slots.take(2).is_none());
    drop(a);
    let c = slots.take(2).unwrap();
    drop((b, c));
    assert_eq!(slots.0.load(Ordering::Acquire), 0);
}

#[test]
fn a_busy_server_answers_503() {
    let (server, mut client) = UnixStream::pair().unwrap();
    refuse_busy(&server);
    drop(server);
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{answer}"
    );
}

#[test]
fn a_huge_chunk_size_is_refused_not_an_overflow() {
    let raw =
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nffffffffffffffff\r\n";
    assert!(matches!(parse(raw), Err(BadRequest::Malformed(_))));
}

#[test]
fn a_huge_chunk_size_gets_a_400_answer() {
    let (server, mut client) = UnixStream::pair().unwrap();
    client
        .write_all(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nffffffffffffffff\r\n",
        )
        .unwrap();
    let served = std::thread::spawn(move || serve_connection(server, &|_, _| {}));
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    served.join().expect("no panic");
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
}

/// A request built from its parts: a method, a path, headers, and a
/// body sent with a length or in chunks.
fn request(
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    chunks: Option<&[usize]>,
) -> Vec<u8> {
    let mut raw = format!("POST {path} HTTP/1.1\r\n").into_bytes();
    for (name, value) in headers {
        raw.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    match chunks {
        None => {
            raw.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            raw.extend_from_slice(body);
        }
        Some(sizes) => {
            raw.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let mut rest = body;
            for &size in sizes.iter().chain(std::iter::repeat(&usize::MAX)) {
                if rest.is_empty() {
                    break;
                }
                let (chunk, after) = rest.split_at(size.clamp(1, rest.len()));
                raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                raw.extend_from_slice(chunk);
                raw.extend_from_slice(b"\r\n");
                rest = after;
            }
            raw.extend_from_slice(b"0\r\n\r\n");
        }
    }
    raw
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(
        std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
    ))]

    /// A whole request parses to its path and body; any truncation of
    /// it, and any bytes at all, give an error, never a panic.
    #[test]
    fn fuzz_requests_parse_whole_and_fail_cleanly_cut_or_garbled(
        path in "/[A-Za-z.]{0,20}",
        headers in proptest::collection::vec(("[A-Za-z-]{1,12}", "[ -~]{0,20}"), 0..4),
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        chunks in proptest::option::of(proptest::collection::vec(1usize..64, 0..8)),
        cut in proptest::prelude::any::<proptest::sample::Index>(),
        garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
    ) {
        // Headers this server reads itself are left to `request`.
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .filter(|(n, _)| {
                !["content-length", "transfer-encoding", "connection"]
                    .contains(&n.to_ascii_lowercase().as_str())
            })
            .map(|(n, v)| (n, v.trim().to_owned()))
            .collect();
        let raw = request(&path, &headers, &body, chunks.as_deref());
        let parsed = parse(&raw);
        proptest::prop_assert!(
            matches!(&parsed, Ok((req, true, false)) if req.url == path && req.body == body)
        );
        let cut = cut.index(raw.len());
        proptest::prop_assert!(parse(&raw[..cut]).is_err());
        let _ = parse(&garbage);
        let mut spliced = raw[..cut].to_vec();
        spliced.extend_from_slice(&garbage);
        let _ = parse(&spliced);
    }
}
