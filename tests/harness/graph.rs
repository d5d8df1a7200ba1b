//! A fake Microsoft identity platform and Microsoft Graph on 127.0.0.1, std only: a `TcpListener`, a
//! thread per connection, HTTP/1.1 with keep-alive. It serves only the shapes documented in
//! `graph-api.md` (device code, token, mail folders, messages, attachments, `$value`, PATCH, move,
//! DELETE), PR_MESSAGE_SIZE as an extended property, and `categories` (a string collection that a
//! PATCH replaces whole, message-update.md), and enforces the rules a client can get wrong: the
//! polling interval, refresh-token rotation, `InefficientFilter`, ids that change on move unless
//! `Prefer: IdType="ImmutableId"`, `/me` only with delegated tokens, shared mailboxes only with
//! `Mail.ReadWrite.Shared`. Tests add mails with `Mail` (`compose.rs`).
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

mod batch;
mod compose;
mod http;
mod identity;
mod mail;
pub mod oauth;

pub use compose::Mail;

use http::{parse_query, serve_connection};

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
    /// Outlook categories (`categories`, a string collection).
    pub categories: Vec<String>,
    /// PR_MESSAGE_SIZE, when a test sets it; else the size of the mail as sent.
    pub size: Option<usize>,
}

impl Message {
    /// PR_MESSAGE_SIZE: the mail as Exchange stores it, attachments (base64) included.
    pub fn size(&self) -> usize {
        self.size.unwrap_or_else(|| {
            self.mime.len()
                + self
                    .attachments
                    .iter()
                    .map(|a| a.bytes.len().div_ceil(3) * 4 + 300)
                    .sum::<usize>()
        })
    }
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
    /// Refresh token → scope and user.
    refresh: HashMap<String, (String, String)>,
    /// Who signs in at the device code or in the browser (the user a delegated token is for).
    pub signed_in_user: String,
    /// The mailbox the application's service principal was given access to (app-only tokens).
    pub app_mailbox: Option<String>,
    /// Certificates uploaded to the app registration (PEM files).
    pub certificates: Vec<std::path::PathBuf>,
    /// Google: the service account's address and certificate, and whether the Workspace
    /// administrator granted it domain-wide delegation.
    pub service_account: Option<(String, std::path::PathBuf)>,
    pub delegation_granted: bool,
    /// When set, the browser comes back with this error instead of a code (the person declined).
    pub browser_error: Option<&'static str>,
    codes: HashMap<String, oauth::Code>,
    /// Every access and refresh token handed out, to check none is ever printed.
    pub issued: Vec<String>,
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
    /// The requests that came inside batches, as routed.
    pub batched: Vec<Request>,
    /// Requests being served per mailbox (`batch.rs`), the most seen at once, and the requests
    /// refused for going over Outlook's limit.
    in_flight: HashMap<String, usize>,
    pub max_in_flight: usize,
    pub concurrency_refusals: usize,
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
            signed_in_user: "me@contoso.com".into(),
            app_mailbox: None,
            certificates: Vec::new(),
            service_account: None,
            delegation_granted: true,
            browser_error: None,
            codes: HashMap::new(),
            issued: Vec::new(),
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
            batched: Vec::new(),
            in_flight: HashMap::new(),
            max_in_flight: 0,
            concurrency_refusals: 0,
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

    /// The port both services listen on, for a proxy in front of them.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Waits until no request holds one of Outlook's concurrency slots: the requests of a killed
    /// run stay in flight until its connections are gone, which under Wine can take a while; a
    /// later cron run would come after that. Fails the test if they are still there after
    /// `limit`: the next run would be refused, and fail for a reason that is not its own.
    pub fn wait_until_idle(&self, limit: std::time::Duration) {
        let end = std::time::Instant::now() + limit;
        while self.state().in_flight.values().any(|&n| n > 0) && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let busy = self.state().in_flight.clone();
        assert!(
            busy.values().all(|&n| n == 0),
            "the fake still serves requests after {limit:?}: {busy:?}"
        );
    }

    /// The state, to configure or inspect.
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }

    /// The Graph requests as served: each `$batch` envelope stands for the requests inside it.
    pub fn routed(&self) -> Vec<Request> {
        let state = self.state();
        let mut routed: Vec<Request> = state
            .requests
            .iter()
            .filter(|r| r.is_graph() && r.path != "/v1.0/$batch")
            .cloned()
            .collect();
        routed.extend(state.batched.iter().cloned());
        routed
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
            categories: mail.categories,
            size: mail.size,
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

    /// A delegated access token for `user`'s mailbox over IMAP and POP3, as a tool other than
    /// lanceur would have obtained it (for `LANCEUR_TOKEN`); listed in `issued`.
    pub fn mail_token(&self, user: &str) -> String {
        let scope = "https://outlook.office365.com/IMAP.AccessAsUser.All \
                     https://outlook.office365.com/POP.AccessAsUser.All";
        let reply = identity::issue_for(&mut self.state(), scope, false, user);
        reply["access_token"].as_str().unwrap().to_string()
    }

    /// Makes every access token handed out so far invalid, as an expiry would.
    pub fn expire_access_tokens(&self) {
        self.state().access.clear();
    }

    /// Revokes every access token handed out so far (for Graph and for introspection), as an
    /// administrator revoking sessions would, without touching the refresh tokens.
    pub fn revoke_access_tokens(&self) {
        let mut state = self.state();
        state.access.clear();
        for token in &state.issued {
            oauth::revoke(token);
        }
    }

    /// Revokes every refresh token handed out so far.
    pub fn revoke_refresh_tokens(&self) {
        self.state().refresh.clear();
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
