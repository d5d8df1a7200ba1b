//! A fake Microsoft identity platform and Microsoft Graph on 127.0.0.1, std only: a `TcpListener`, a
//! thread per connection, HTTP/1.1 with keep-alive. It serves only the shapes documented in
//! `graph-api.md` (device code, token, mail folders, messages, attachments, `$value`, PATCH, move,
//! DELETE) and enforces the rules a client can get wrong: the polling interval, refresh-token
//! rotation, `InefficientFilter`, ids that change on move unless `Prefer: IdType="ImmutableId"`,
//! `/me` only with delegated tokens, shared mailboxes only with `Mail.ReadWrite.Shared`.
//!
//! It records every request. On drop it asserts that it was called and that no handler panicked.
//! It lives in the test process, so it outlives a `lanceur` killed with `kill -9`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const CLIENT_ID: &str = "0f6c2b1a-7e11-4c55-9d2e-5a1b8c3d4e5f";
pub const CLIENT_SECRET: &str = "s3cr3t~value";
pub const USER_CODE: &str = "FAKE1234";

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Decoded path, e.g. `/v1.0/users/shared@contoso.com/mailFolders/inbox/messages`.
    pub path: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn form(&self) -> HashMap<String, String> {
        parse_query(&String::from_utf8_lossy(&self.body), true)
            .into_iter()
            .collect()
    }

    pub fn is_graph(&self) -> bool {
        self.path.starts_with("/v1.0/")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    Item,
    Reference,
}

#[derive(Debug, Clone)]
pub struct Attachment {
    pub id: String,
    pub kind: Kind,
    pub name: String,
    pub content_type: Option<String>,
    pub inline: bool,
    pub bytes: Arc<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub immutable_id: String,
    /// The REST id, which changes on every move.
    pub rest_id: String,
    pub folder: String,
    pub subject: String,
    pub from: (String, String),
    pub to: Vec<(String, String)>,
    pub received: String,
    pub is_read: bool,
    pub internet_message_id: String,
    pub attachments: Vec<Attachment>,
    pub mime: Arc<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct Folder {
    pub id: String,
    pub well_known: Option<String>,
    pub display_name: String,
    /// `None`: a top-level folder.
    pub parent: Option<String>,
}

#[derive(Debug, Default)]
pub struct Mailbox {
    pub folders: Vec<Folder>,
    pub messages: Vec<Message>,
    /// Whether the delegated user has Full Access (for shared mailboxes).
    pub delegated_access: bool,
}

/// An attachment to add: kind, name, content type, inline, bytes.
type Part = (Kind, String, Option<String>, bool, Vec<u8>);

/// A message to add, built by tests.
pub struct Mail {
    subject: String,
    from: (String, String),
    read: bool,
    attachments: Vec<Part>,
    mime: Option<Vec<u8>>,
}

impl Mail {
    pub fn new(subject: &str) -> Mail {
        Mail {
            subject: subject.to_string(),
            from: ("Adele Vance".into(), "AdeleV@contoso.com".into()),
            read: false,
            attachments: Vec::new(),
            mime: None,
        }
    }

    pub fn file(mut self, name: &str, content_type: &str, bytes: &[u8]) -> Mail {
        self.attachments.push((
            Kind::File,
            name.into(),
            Some(content_type.into()),
            false,
            bytes.to_vec(),
        ));
        self
    }

    pub fn inline(mut self, name: &str, content_type: &str, bytes: &[u8]) -> Mail {
        self.attachments.push((
            Kind::File,
            name.into(),
            Some(content_type.into()),
            true,
            bytes.to_vec(),
        ));
        self
    }

    pub fn item(mut self, name: &str, mime: &[u8]) -> Mail {
        self.attachments
            .push((Kind::Item, name.into(), None, false, mime.to_vec()));
        self
    }

    pub fn reference(mut self, name: &str) -> Mail {
        self.attachments.push((
            Kind::Reference,
            name.into(),
            Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document".into()),
            true,
            Vec::new(),
        ));
        self
    }

    pub fn read(mut self) -> Mail {
        self.read = true;
        self
    }

    pub fn mime(mut self, mime: &[u8]) -> Mail {
        self.mime = Some(mime.to_vec());
        self
    }
}

/// A scripted failure: the next `times` requests whose path contains `path` get `status`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Option<String>,
    pub path: String,
    pub status: u16,
    pub retry_after: Option<u64>,
    pub times: usize,
}

#[derive(Debug, Clone)]
struct Grant {
    app_only: bool,
    scope: String,
}

pub struct State {
    addr: SocketAddr,
    pub requests: Vec<Request>,
    /// Errors answered to device code polls, in order, before the grant succeeds.
    pub device_script: VecDeque<&'static str>,
    pub device_interval: u64,
    pub device_expires_in: u64,
    device_code: Option<(String, String)>,
    poll_interval: u64,
    last_poll: Option<Instant>,
    /// Polls that came sooner than the interval then in force.
    pub early_polls: usize,
    pub access_expires_in: u64,
    access: HashMap<String, Grant>,
    refresh: HashMap<String, String>,
    used_refresh: HashSet<String>,
    /// Refresh attempts with a refresh token already used once.
    pub reused_refresh_tokens: usize,
    /// The last refresh token handed out.
    pub latest_refresh_token: Option<String>,
    /// When set, every refresh is refused with this `error` and AADSTS code.
    pub refresh_error: Option<(&'static str, u64)>,
    pub refreshes: usize,
    counter: u64,
    pub mailboxes: BTreeMap<String, Mailbox>,
    /// Most items per page, whatever `$top` asks.
    pub page_cap: usize,
    pub faults: Vec<Fault>,
    /// Leave `@odata.type` out of attachments listed with `$select` (some answers seen in the wild).
    pub untyped_selected_attachments: bool,
    received_clock: u64,
}

pub struct FakeGraph {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    panics: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl FakeGraph {
    pub fn start() -> FakeGraph {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("fake Graph cannot listen on 127.0.0.1: {e}"));
        let addr = listener.local_addr().unwrap();
        let mut mailboxes = BTreeMap::new();
        mailboxes.insert("me".to_string(), new_mailbox("me", true));
        let state = Arc::new(Mutex::new(State {
            addr,
            requests: Vec::new(),
            device_script: VecDeque::new(),
            device_interval: 0,
            device_expires_in: 900,
            device_code: None,
            poll_interval: 0,
            last_poll: None,
            early_polls: 0,
            access_expires_in: 3599,
            access: HashMap::new(),
            refresh: HashMap::new(),
            used_refresh: HashSet::new(),
            reused_refresh_tokens: 0,
            latest_refresh_token: None,
            refresh_error: None,
            refreshes: 0,
            counter: 0,
            mailboxes,
            page_cap: 1000,
            faults: Vec::new(),
            untyped_selected_attachments: false,
            received_clock: 0,
        }));
        let panics = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (state, panics, stop) = (state.clone(), panics.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (state, panics) = (state.clone(), panics.clone());
                    std::thread::spawn(move || serve_connection(stream, &state, &panics));
                }
            });
        }
        FakeGraph {
            addr,
            state,
            panics,
            stop,
        }
    }

    pub fn login_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn graph_url(&self) -> String {
        format!("http://{}/v1.0", self.addr)
    }

    /// The state, to configure or inspect.
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }

    /// Adds a shared mailbox; `access`: whether the signed-in user has Full Access to it.
    pub fn add_mailbox(&self, address: &str, access: bool) {
        self.state()
            .mailboxes
            .insert(address.to_ascii_lowercase(), new_mailbox(address, access));
    }

    /// Adds folder `name` under the folder at `parent` (a well-known name or display-name path;
    /// empty for the top). Returns its id.
    pub fn add_folder(&self, mailbox: &str, parent: &str, name: &str) -> String {
        let mut state = self.state();
        state.counter += 1;
        let id = format!("AAMkAGFvbGRlcg-{}=", state.counter);
        let mailbox = state.mailboxes.get_mut(mailbox).expect("mailbox");
        let parent = if parent.is_empty() {
            None
        } else {
            Some(find_folder(mailbox, parent).expect("parent folder").id)
        };
        mailbox.folders.push(Folder {
            id: id.clone(),
            well_known: None,
            display_name: name.into(),
            parent,
        });
        id
    }

    /// Adds a mail to `folder` (well-known name or path) of `mailbox`; returns its immutable id.
    /// Mails are received one minute apart, in the order they are added.
    pub fn add_mail(&self, mailbox: &str, folder: &str, mail: Mail) -> String {
        let mut state = self.state();
        state.counter += 1;
        state.received_clock += 1;
        let n = state.counter;
        let minutes = state.received_clock;
        let received = format!(
            "2024-03-{:02}T{:02}:{:02}:00Z",
            1 + minutes / 1440,
            (minutes / 60) % 24,
            minutes % 60
        );
        let immutable_id = format!("AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A{n:05}AAA=");
        let mime = mail.mime.unwrap_or_else(|| {
            format!(
                "From: {} <{}>\r\nTo: me@contoso.com\r\nSubject: {}\r\nMessage-ID: <m{n}@contoso.com>\r\n\r\nbody {n}\r\n",
                mail.from.0, mail.from.1, mail.subject
            )
            .into_bytes()
        });
        let attachments = mail
            .attachments
            .into_iter()
            .enumerate()
            .map(
                |(i, (kind, name, content_type, inline, bytes))| Attachment {
                    id: format!("AAMkAGAtt{n}-{i}="),
                    kind,
                    name,
                    content_type,
                    inline,
                    bytes: Arc::new(bytes),
                },
            )
            .collect();
        let mailbox = state.mailboxes.get_mut(mailbox).expect("mailbox");
        let folder = find_folder(mailbox, folder).expect("folder").id;
        mailbox.messages.push(Message {
            rest_id: format!("AAMkAGUAAAwTW09AAA{n}-0="),
            immutable_id: immutable_id.clone(),
            folder,
            subject: mail.subject,
            from: mail.from,
            to: vec![("Me".into(), "me@contoso.com".into())],
            received,
            is_read: mail.read,
            internet_message_id: format!("<m{n}@contoso.com>"),
            attachments,
            mime: Arc::new(mime),
        });
        immutable_id
    }

    /// A copy of a mail, by immutable id.
    pub fn mail(&self, mailbox: &str, immutable_id: &str) -> Option<Message> {
        self.state().mailboxes[mailbox]
            .messages
            .iter()
            .find(|m| m.immutable_id == immutable_id)
            .cloned()
    }

    /// The display name of the folder a mail is in.
    pub fn folder_of(&self, mailbox: &str, immutable_id: &str) -> Option<String> {
        let state = self.state();
        let mailbox = &state.mailboxes[mailbox];
        let message = mailbox
            .messages
            .iter()
            .find(|m| m.immutable_id == immutable_id)?;
        mailbox
            .folders
            .iter()
            .find(|f| f.id == message.folder)
            .map(|f| f.display_name.clone())
    }

    /// Moves a mail as a user would in Outlook: its REST id changes, its immutable id does not.
    pub fn user_moves(&self, mailbox: &str, immutable_id: &str, folder: &str) {
        let mut state = self.state();
        let mailbox = state.mailboxes.get_mut(mailbox).unwrap();
        let folder = find_folder(mailbox, folder).expect("folder").id;
        let message = mailbox
            .messages
            .iter_mut()
            .find(|m| m.immutable_id == immutable_id)
            .unwrap();
        move_message(message, folder);
    }

    pub fn fail(
        &self,
        method: Option<&str>,
        path: &str,
        status: u16,
        retry_after: Option<u64>,
        times: usize,
    ) {
        self.state().faults.push(Fault {
            method: method.map(str::to_string),
            path: path.to_string(),
            status,
            retry_after,
            times,
        });
    }

    /// Makes every access token handed out so far invalid, as an expiry would.
    pub fn expire_access_tokens(&self) {
        self.state().access.clear();
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if std::thread::panicking() {
            return;
        }
        let panics = lock(&self.panics).clone();
        assert!(
            panics.is_empty(),
            "a fake Graph handler panicked: {panics:?}"
        );
        assert!(
            !lock(&self.state).requests.is_empty(),
            "the fake Graph was never called"
        );
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn new_mailbox(owner: &str, access: bool) -> Mailbox {
    let tag: String = owner.chars().filter(char::is_ascii_alphanumeric).collect();
    let folder = |wk: &str, name: &str| Folder {
        id: format!("AAMkAG{tag}-{wk}="),
        well_known: Some(wk.into()),
        display_name: name.into(),
        parent: None,
    };
    Mailbox {
        folders: vec![
            folder("inbox", "Inbox"),
            folder("archive", "Archive"),
            folder("deleteditems", "Deleted Items"),
        ],
        messages: Vec::new(),
        delegated_access: access,
    }
}

/// A folder by id, well-known name, or display-name path.
fn find_folder(mailbox: &Mailbox, spec: &str) -> Option<Folder> {
    if let Some(f) = mailbox.folders.iter().find(|f| {
        f.id == spec || f.well_known.as_deref() == Some(spec.to_ascii_lowercase().as_str())
    }) {
        return Some(f.clone());
    }
    let mut parent: Option<String> = None;
    let mut found = None;
    for part in spec.split('/') {
        let f = mailbox
            .folders
            .iter()
            .find(|f| f.parent == parent && f.display_name.eq_ignore_ascii_case(part))?;
        parent = Some(f.id.clone());
        found = Some(f.clone());
    }
    found
}

fn move_message(message: &mut Message, folder: String) {
    let generation: u32 = message
        .rest_id
        .rsplit('-')
        .next()
        .and_then(|g| g.trim_end_matches('=').parse().ok())
        .unwrap_or(0);
    let stem = message.rest_id.rsplit_once('-').unwrap().0.to_string();
    message.rest_id = format!("{stem}-{}=", generation + 1);
    message.folder = folder;
}

// ---------------------------------------------------------------------------------------------
// HTTP

struct Response {
    status: u16,
    content_type: &'static str,
    headers: Vec<(String, String)>,
    body: Arc<Vec<u8>>,
}

impl Response {
    fn json(status: u16, value: Value) -> Response {
        Response {
            status,
            content_type: "application/json; odata.metadata=minimal",
            headers: Vec::new(),
            body: Arc::new(value.to_string().into_bytes()),
        }
    }

    fn bytes(content_type: &'static str, body: Arc<Vec<u8>>) -> Response {
        Response {
            status: 200,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    fn empty(status: u16) -> Response {
        Response {
            status,
            content_type: "text/plain",
            headers: Vec::new(),
            body: Arc::new(Vec::new()),
        }
    }
}

fn graph_error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        json!({"error": {"code": code, "message": message,
            "innerError": {"request-id": "2f038156-cf40-403d-8e46-831fe42a8229",
                           "date": "2024-05-24T10:16:21"}}}),
    )
}

fn identity_error(error: &str, code: u64, text: &str) -> Response {
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

fn serve_connection(
    stream: TcpStream,
    state: &Arc<Mutex<State>>,
    panics: &Arc<Mutex<Vec<String>>>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
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
        let response = match catch_unwind(AssertUnwindSafe(|| route(state, &request))) {
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
        if write_response(&mut writer, &response).is_err() || close {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
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

fn write_response(writer: &mut TcpStream, response: &Response) -> std::io::Result<()> {
    let reason = match response.status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
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

fn parse_query(query: &str, plus_is_space: bool) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k, plus_is_space), decode(v, plus_is_space))
        })
        .collect()
}

fn decode(text: &str, plus_is_space: bool) -> String {
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

fn base64(bytes: &[u8]) -> String {
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

// ---------------------------------------------------------------------------------------------
// Routes

fn route(state: &Arc<Mutex<State>>, request: &Request) -> Response {
    let mut state = lock(state);
    let fault = state.faults.iter_mut().find(|f| {
        f.times > 0
            && request.path.contains(&f.path)
            && f.method.as_deref().is_none_or(|m| m == request.method)
    });
    if let Some(fault) = fault {
        fault.times -= 1;
        let (status, retry_after) = (fault.status, fault.retry_after);
        let code = match status {
            429 => "TooManyRequests",
            503 => "ServiceNotAvailable",
            404 => "ErrorItemNotFound",
            _ => "InternalServerError",
        };
        let mut response = graph_error(status, code, "Scripted failure of the fake.");
        if let Some(seconds) = retry_after {
            response
                .headers
                .push(("Retry-After".into(), seconds.to_string()));
        }
        return response;
    }
    if let Some(rest) = request.path.strip_prefix("/v1.0/") {
        let rest = rest.to_string();
        return graph(&mut state, request, &rest);
    }
    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("POST", [_tenant, "oauth2", "v2.0", "devicecode"]) => device_code(&mut state, request),
        ("POST", [_tenant, "oauth2", "v2.0", "token"]) => token(&mut state, request),
        _ => graph_error(404, "NotFound", "No such endpoint on the fake."),
    }
}

fn device_code(state: &mut State, request: &Request) -> Response {
    let form = request.form();
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return identity_error(
            "invalid_client",
            700016,
            "Application not found in the directory.",
        );
    }
    let scope = form.get("scope").cloned().unwrap_or_default();
    assert!(
        scope.contains("offline_access"),
        "device code without offline_access: {scope}"
    );
    state.counter += 1;
    let code = format!(
        "GMMhmHCXhWEzkobqIHGG_EnNYYsAkukHspeYUk9E8-{}",
        state.counter
    );
    state.device_code = Some((code.clone(), scope));
    state.poll_interval = state.device_interval;
    state.last_poll = None;
    Response::json(
        200,
        json!({
            "device_code": code,
            "user_code": USER_CODE,
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": state.device_expires_in,
            "interval": state.device_interval,
            "message": format!("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code {USER_CODE} to authenticate.")
        }),
    )
}

fn issue(state: &mut State, scope: &str, app_only: bool) -> Value {
    state.counter += 1;
    let access = format!("eyJ0.access.{}", state.counter);
    state.access.insert(
        access.clone(),
        Grant {
            app_only,
            scope: scope.to_string(),
        },
    );
    if app_only {
        return json!({"token_type": "Bearer", "expires_in": state.access_expires_in, "access_token": access});
    }
    let refresh = format!("AwABAAAA.refresh.{}", state.counter);
    state.refresh.insert(refresh.clone(), scope.to_string());
    state.latest_refresh_token = Some(refresh.clone());
    json!({"token_type": "Bearer", "scope": scope, "expires_in": state.access_expires_in,
           "access_token": access, "refresh_token": refresh})
}

fn token(state: &mut State, request: &Request) -> Response {
    let form = request.form();
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return identity_error(
            "invalid_client",
            700016,
            "Application not found in the directory.",
        );
    }
    match form.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:device_code") => {
            let Some((code, scope)) = state.device_code.clone() else {
                return identity_error(
                    "bad_verification_code",
                    70019,
                    "Verification code invalid.",
                );
            };
            if form.get("device_code") != Some(&code) {
                return identity_error(
                    "bad_verification_code",
                    70019,
                    "Verification code invalid.",
                );
            }
            let now = request.at;
            if let Some(last) = state.last_poll {
                if now.duration_since(last) < Duration::from_secs(state.poll_interval) {
                    state.early_polls += 1;
                    state.last_poll = Some(now);
                    state.poll_interval += 5;
                    return identity_error("slow_down", 70016, "Polling too fast.");
                }
            }
            state.last_poll = Some(now);
            match state.device_script.pop_front() {
                Some(error) => {
                    if error == "slow_down" {
                        state.poll_interval += 5;
                    }
                    let code = match error {
                        "authorization_pending" | "slow_down" => 70016,
                        "expired_token" => 70020,
                        "invalid_client" => 7000218,
                        _ => 70000,
                    };
                    identity_error(error, code, &format!("The fake says {error}."))
                }
                None => {
                    state.device_code = None;
                    Response::json(200, issue(state, &scope, false))
                }
            }
        }
        Some("refresh_token") => {
            state.refreshes += 1;
            if let Some((error, code)) = state.refresh_error {
                return identity_error(
                    error,
                    code,
                    "The refresh token has expired due to inactivity.",
                );
            }
            let token = form.get("refresh_token").cloned().unwrap_or_default();
            if state.used_refresh.contains(&token) {
                state.reused_refresh_tokens += 1;
                return identity_error(
                    "invalid_grant",
                    70000,
                    "The refresh token was already used.",
                );
            }
            let Some(scope) = state.refresh.remove(&token) else {
                return identity_error(
                    "invalid_grant",
                    9002313,
                    "Invalid request. Malformed refresh token.",
                );
            };
            state.used_refresh.insert(token);
            Response::json(200, issue(state, &scope, false))
        }
        Some("client_credentials") => {
            if form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) {
                return identity_error(
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided.",
                );
            }
            let scope = form.get("scope").cloned().unwrap_or_default();
            if !scope.ends_with("/.default") {
                return identity_error(
                    "invalid_scope",
                    70011,
                    "The scope must end with /.default.",
                );
            }
            Response::json(200, issue(state, &scope, true))
        }
        _ => identity_error("unsupported_grant_type", 70003, "Unsupported grant type."),
    }
}

fn graph(state: &mut State, request: &Request, rest: &str) -> Response {
    let Some(token) = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.");
    };
    let Some(grant) = state.access.get(token).cloned() else {
        return graph_error(
            401,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        );
    };
    let immutable = request
        .header("prefer")
        .is_some_and(|v| v.contains("IdType=\"ImmutableId\""));
    let segments: Vec<&str> = rest.split('/').collect();
    let (owner, tail) = match segments.as_slice() {
        ["me", tail @ ..] => {
            if grant.app_only {
                return graph_error(
                    400,
                    "BadRequest",
                    "/me request is only valid with delegated authentication flow.",
                );
            }
            ("me".to_string(), tail)
        }
        ["users", address, tail @ ..] => {
            let key = address.to_ascii_lowercase();
            let Some(mailbox) = state.mailboxes.get(&key) else {
                return graph_error(
                    404,
                    "ErrorInvalidUser",
                    &format!("The requested user '{address}' is invalid."),
                );
            };
            if !grant.app_only
                && (!grant.scope.contains("Mail.ReadWrite.Shared") || !mailbox.delegated_access)
            {
                return graph_error(
                    403,
                    "ErrorAccessDenied",
                    "Access is denied. Check credentials and try again.",
                );
            }
            (key, tail)
        }
        _ => return graph_error(400, "BadRequest", "Resource not found for the segment."),
    };
    let (addr, page_cap) = (state.addr, state.page_cap);
    let untyped = state.untyped_selected_attachments;
    let mailbox = state.mailboxes.get_mut(&owner).unwrap();
    let id_of = |m: &Message| {
        if immutable {
            m.immutable_id.clone()
        } else {
            m.rest_id.clone()
        }
    };
    let method = request.method.as_str();
    match (method, tail) {
        ("GET", ["mailFolders"]) => folders(mailbox, request, None),
        ("GET", ["mailFolders", parent, "childFolders"]) => {
            let Some(parent) = find_by_id_or_name(mailbox, parent) else {
                return graph_error(
                    404,
                    "ErrorItemNotFound",
                    "The specified object was not found in the store.",
                );
            };
            folders(mailbox, request, Some(parent.id))
        }
        ("GET", ["mailFolders", folder, "messages"]) => {
            let Some(folder) = find_by_id_or_name(mailbox, folder) else {
                return graph_error(
                    404,
                    "ErrorItemNotFound",
                    "The specified object was not found in the store.",
                );
            };
            list_messages(mailbox, request, &folder, immutable, addr, page_cap)
        }
        (_, ["messages", id, more @ ..]) => {
            let Some(index) = mailbox
                .messages
                .iter()
                .position(|m| m.immutable_id == *id || m.rest_id == *id)
            else {
                return graph_error(
                    404,
                    "ErrorItemNotFound",
                    "The specified object was not found in the store.",
                );
            };
            match (method, more) {
                ("GET", ["$value"]) => {
                    Response::bytes("text/plain", mailbox.messages[index].mime.clone())
                }
                ("GET", ["attachments"]) => {
                    let selected = request.param("$select").is_some();
                    let value: Vec<Value> = mailbox.messages[index]
                        .attachments
                        .iter()
                        .map(|a| {
                            let mut value = attachment_json(a, selected);
                            if selected && untyped {
                                value.as_object_mut().unwrap().remove("@odata.type");
                            }
                            value
                        })
                        .collect();
                    Response::json(
                        200,
                        json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#attachments", "value": value}),
                    )
                }
                ("GET", ["attachments", aid, "$value"]) => {
                    let Some(attachment) = mailbox.messages[index]
                        .attachments
                        .iter()
                        .find(|a| a.id == *aid)
                    else {
                        return graph_error(
                            404,
                            "ErrorItemNotFound",
                            "The specified object was not found in the store.",
                        );
                    };
                    match attachment.kind {
                        Kind::File => {
                            Response::bytes("application/octet-stream", attachment.bytes.clone())
                        }
                        Kind::Item => Response::bytes("message/rfc822", attachment.bytes.clone()),
                        Kind::Reference => graph_error(
                            405,
                            "ErrorInvalidRequest",
                            "The OData request is not supported.",
                        ),
                    }
                }
                ("PATCH", []) => {
                    let body: Value =
                        serde_json::from_slice(&request.body).expect("PATCH body is JSON");
                    if let Some(read) = body.get("isRead").and_then(Value::as_bool) {
                        mailbox.messages[index].is_read = read;
                    }
                    let m = &mailbox.messages[index];
                    Response::json(200, message_json(m, id_of(m), None))
                }
                ("POST", ["move"]) => {
                    let body: Value =
                        serde_json::from_slice(&request.body).expect("move body is JSON");
                    let destination = body["destinationId"].as_str().unwrap_or("").to_string();
                    let Some(folder) = find_by_id_or_name(mailbox, &destination) else {
                        return graph_error(400, "ErrorInvalidIdMalformed", "Id is malformed.");
                    };
                    move_message(&mut mailbox.messages[index], folder.id);
                    let m = &mailbox.messages[index];
                    Response::json(201, message_json(m, id_of(m), None))
                }
                ("DELETE", []) => {
                    mailbox.messages.remove(index);
                    Response::empty(204)
                }
                _ => graph_error(400, "BadRequest", "Resource not found for the segment."),
            }
        }
        _ => graph_error(400, "BadRequest", "Resource not found for the segment."),
    }
}

fn find_by_id_or_name(mailbox: &Mailbox, spec: &str) -> Option<Folder> {
    mailbox
        .folders
        .iter()
        .find(|f| {
            f.id == spec || f.well_known.as_deref() == Some(spec.to_ascii_lowercase().as_str())
        })
        .cloned()
}

/// `displayName eq 'X'` → X.
fn display_name_filter(filter: &str) -> Option<String> {
    let quoted = filter
        .strip_prefix("displayName eq '")?
        .strip_suffix('\'')?;
    Some(quoted.replace("''", "'"))
}

fn folders(mailbox: &Mailbox, request: &Request, parent: Option<String>) -> Response {
    let wanted = match request.param("$filter") {
        Some(filter) => match display_name_filter(filter) {
            Some(name) => Some(name),
            None => return graph_error(400, "BadRequest", "Invalid filter clause."),
        },
        None => None,
    };
    let value: Vec<Value> = mailbox
        .folders
        .iter()
        .filter(|f| f.parent == parent)
        .filter(|f| {
            wanted
                .as_deref()
                .is_none_or(|w| f.display_name.eq_ignore_ascii_case(w))
        })
        .map(|f| {
            let children = mailbox
                .folders
                .iter()
                .filter(|c| c.parent.as_deref() == Some(&f.id))
                .count();
            let in_folder = mailbox.messages.iter().filter(|m| m.folder == f.id);
            json!({"id": f.id, "displayName": f.display_name,
                   "parentFolderId": f.parent.clone().unwrap_or_else(|| "AAMkAGroot=".into()),
                   "childFolderCount": children,
                   "unreadItemCount": in_folder.clone().filter(|m| !m.is_read).count(),
                   "totalItemCount": in_folder.count()})
        })
        .collect();
    Response::json(200, json!({"value": value}))
}

fn list_messages(
    mailbox: &Mailbox,
    request: &Request,
    folder: &Folder,
    immutable: bool,
    addr: SocketAddr,
    page_cap: usize,
) -> Response {
    let filter = request.param("$filter").unwrap_or("");
    let orderby = request.param("$orderby");
    let clauses: Vec<&str> = if filter.is_empty() {
        Vec::new()
    } else {
        filter.split(" and ").collect()
    };
    if let Some(order) = orderby {
        let property = order.split_whitespace().next().unwrap_or("");
        if !clauses.is_empty() && !clauses[0].starts_with(&format!("{property} ")) {
            return graph_error(
                400,
                "InefficientFilter",
                "The restriction or sort order is too complex for this operation.",
            );
        }
    }
    let mut since: Option<String> = None;
    let mut read: Option<bool> = None;
    for clause in &clauses {
        let parts: Vec<&str> = clause.split_whitespace().collect();
        match parts.as_slice() {
            ["receivedDateTime", "ge", value] => since = Some(value.to_string()),
            ["isRead", "eq", value] => read = Some(*value == "true"),
            _ => {
                return graph_error(
                    400,
                    "BadRequest",
                    &format!("Invalid filter clause: {clause}"),
                )
            }
        }
    }
    let mut messages: Vec<&Message> = mailbox
        .messages
        .iter()
        .filter(|m| m.folder == folder.id)
        .filter(|m| since.as_deref().is_none_or(|s| m.received.as_str() >= s))
        .filter(|m| read.is_none_or(|r| m.is_read == r))
        .collect();
    match orderby {
        Some("receivedDateTime asc") | None => messages.sort_by(|a, b| a.received.cmp(&b.received)),
        Some("receivedDateTime desc") => messages.sort_by(|a, b| b.received.cmp(&a.received)),
        Some(other) => {
            return graph_error(400, "BadRequest", &format!("Unsupported $orderby {other}"))
        }
    }
    let top: usize = request
        .param("$top")
        .map_or(10, |t| t.parse().expect("$top is a number"));
    assert!((1..=1000).contains(&top), "$top {top} out of 1..1000");
    let skip: usize = request
        .param("$skip")
        .map_or(0, |s| s.parse().expect("$skip is a number"));
    let select: Option<Vec<&str>> = request.param("$select").map(|s| s.split(',').collect());
    let end = (skip + top.min(page_cap)).min(messages.len());
    let value: Vec<Value> = messages[skip.min(end)..end]
        .iter()
        .map(|m| {
            let id = if immutable {
                m.immutable_id.clone()
            } else {
                m.rest_id.clone()
            };
            message_json(m, id, select.as_deref())
        })
        .collect();
    let mut body = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('bb87')/mailFolders('{}')/messages", folder.id),
        "value": value
    });
    if end < messages.len() {
        let mut query: Vec<String> = request
            .query
            .iter()
            .filter(|(k, _)| k != "$skip")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        query.push(format!("%24skip={end}"));
        body["@odata.nextLink"] = json!(format!(
            "http://{addr}{}?{}",
            encode_path(&request.path),
            query.join("&")
        ));
    }
    Response::json(200, body)
}

fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|s| encode(s).replace("%40", "@"))
        .collect::<Vec<_>>()
        .join("/")
}

fn message_json(m: &Message, id: String, select: Option<&[&str]>) -> Value {
    let person = |(name, address): &(String, String)| json!({"emailAddress": {"name": name, "address": address}});
    let full = json!({
        "@odata.etag": "W/\"CQAAABYAAADHcgC8Hl9tRZ/hc1wEUs1TAAAwR4Hg\"",
        "id": id,
        "subject": m.subject,
        "receivedDateTime": m.received,
        "sentDateTime": m.received,
        "hasAttachments": m.attachments.iter().any(|a| !a.inline),
        "internetMessageId": m.internet_message_id,
        "isRead": m.is_read,
        "isDraft": false,
        "parentFolderId": m.folder,
        "conversationId": "AAQkAGconv=",
        "bodyPreview": "body",
        "body": {"contentType": "html", "content": "<html><body>body</body></html>"},
        "from": person(&m.from),
        "sender": person(&m.from),
        "toRecipients": m.to.iter().map(person).collect::<Vec<_>>(),
        "ccRecipients": [], "bccRecipients": [], "replyTo": [],
        "flag": {"flagStatus": "notFlagged"}
    });
    match select {
        None => full,
        Some(fields) => {
            let mut out = serde_json::Map::new();
            for key in ["@odata.etag", "id"].iter().chain(fields.iter()) {
                if let Some(v) = full.get(*key) {
                    out.insert((*key).to_string(), v.clone());
                }
            }
            Value::Object(out)
        }
    }
}

fn attachment_json(a: &Attachment, selected: bool) -> Value {
    let kind = match a.kind {
        Kind::File => "#microsoft.graph.fileAttachment",
        Kind::Item => "#microsoft.graph.itemAttachment",
        Kind::Reference => "#microsoft.graph.referenceAttachment",
    };
    let mut value = json!({
        "@odata.type": kind,
        "id": a.id,
        "lastModifiedDateTime": "2019-04-02T03:41:29Z",
        "name": a.name,
        "contentType": a.content_type,
        "size": a.bytes.len() + 200,
        "isInline": a.inline,
    });
    if a.kind == Kind::File {
        value["contentId"] = if a.inline {
            json!("image001.png@01D4")
        } else {
            Value::Null
        };
        value["contentLocation"] = Value::Null;
        if !selected {
            value["contentBytes"] = json!(base64(&a.bytes));
        }
    }
    value
}
