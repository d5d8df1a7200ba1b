//! The fake's HTTP/1.1: reading requests (keep-alive, Content-Length or chunked bodies), writing
//! answers, URL and form decoding, and the error bodies of Graph and of the identity platform.

use super::identity::route;
use super::*;

pub(super) struct Response {
    pub(super) status: u16,
    pub(super) content_type: &'static str,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Arc<Vec<u8>>,
}

impl Response {
    pub(super) fn json(status: u16, value: Value) -> Response {
        Response {
            status,
            content_type: "application/json; odata.metadata=minimal",
            headers: Vec::new(),
            body: Arc::new(value.to_string().into_bytes()),
        }
    }

    pub(super) fn bytes(content_type: &'static str, body: Arc<Vec<u8>>) -> Response {
        Response {
            status: 200,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    pub(super) fn empty(status: u16) -> Response {
        Response {
            status,
            content_type: "text/plain",
            headers: Vec::new(),
            body: Arc::new(Vec::new()),
        }
    }
}

pub(super) fn graph_error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        json!({"error": {"code": code, "message": message,
            "innerError": {"request-id": "2f038156-cf40-403d-8e46-831fe42a8229",
                           "date": "2024-05-24T10:16:21"}}}),
    )
}

pub(super) fn identity_error(error: &str, code: u64, text: &str) -> Response {
    let status = if error == "invalid_client" { 401 } else { 400 };
    Response::json(
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 0000\r\nCorrelation ID: 1111\r\nTimestamp: 2024-01-09 02:02:12Z"),
            "error_codes": [code],
            "timestamp": "2024-01-09 02:02:12Z",
            "trace_id": "0000",
            "correlation_id": "1111",
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}")
        }),
    )
}

/// How long one write of an answer may wait for a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(15);

pub(super) fn serve_connection(
    stream: TcpStream,
    state: &Arc<Mutex<State>>,
    panics: &Arc<Mutex<Vec<String>>>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    // A client that stops reading is dropped, as Exchange drops it, and its concurrency slot
    // given back. Under Wine the socket of a run killed in the middle of a large answer can stay
    // open without being read: the write of the rest would block forever, and every later run
    // would be refused as over the MailboxConcurrency limit.
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    // Head and body go out in separate writes: without this, Nagle and delayed ACKs add 40 ms to
    // every answer.
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut writer = write_half;
    let mut reader = BufReader::new(stream);
    loop {
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        lock(state).requests.push(request.clone());
        let slots = super::batch::mailbox_slots(&request);
        let refused = super::batch::enter(&mut lock(state), &slots);
        let entered = refused.is_none();
        let routed = match refused {
            Some(refused) => Ok(refused),
            None => catch_unwind(AssertUnwindSafe(|| route(state, &request))),
        };
        let response = match routed {
            Ok(response) => response,
            Err(panic) => {
                let text = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                lock(panics).push(format!("{} {}: {text}", request.method, request.path));
                graph_error(500, "FakePanicked", &text)
            }
        };
        let written = write_response(&mut writer, &response);
        if entered {
            super::batch::leave(&mut lock(state), &slots);
        }
        if written.is_err() || close {
            return;
        }
    }
}

pub(super) fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v): &(String, String)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(length) = find("content-length") {
        let length: usize = length.parse().ok()?;
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_string(), parse_query(query, false)),
        None => (target.clone(), Vec::new()),
    };
    Some(Request {
        method,
        path: decode(&path, false),
        query,
        headers,
        body,
        at: Instant::now(),
    })
}

pub(super) fn write_response(writer: &mut TcpStream, response: &Response) -> std::io::Result<()> {
    let reason = match response.status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        response.status,
        response.content_type,
        response.body.len()
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    writer.write_all(&response.body)?;
    writer.flush()
}

pub(super) fn parse_query(query: &str, plus_is_space: bool) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k, plus_is_space), decode(v, plus_is_space))
        })
        .collect()
}

pub(super) fn decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (hex, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') if plus_is_space => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(super) fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
