//! The person at the browser, played by a test: reads the sign-in link a `lanceur … login` prints,
//! follows it to the identity fake, which sends the browser back to lanceur's loopback page with a
//! code, as Microsoft's and Google's authorization endpoints do.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use super::Ran;

/// `lanceur … login` run in the background: the test reads its instructions and plays the
/// person at the browser, then collects the end of its output.
pub fn login_in_browser(mut command: Command) -> Ran {
    let description = format!("{command:?}");
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start lanceur");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut stdout = String::new();
    let url = loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break None;
        }
        stdout.push_str(&line);
        let word = line.trim();
        if word.starts_with("http://") && word.contains("code_challenge=") {
            break Some(word.to_string());
        }
    };
    if let Some(url) = url {
        // The identity platform signs the person in and sends the browser back with a code.
        let (status, headers, _) = http_get(&url);
        assert_eq!(status, 302, "authorize answered {status}");
        let location = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("location"))
            .map(|(_, v)| v.clone())
            .expect("a redirect");
        let (status, _, page) = http_get(&location);
        assert_eq!(status, 200, "lanceur's loopback page: {page}");
        assert!(page.contains("lanceur: "), "{page}");
    }
    reader.read_to_string(&mut stdout).unwrap();
    let output = child.wait_with_output().unwrap();
    Ran::from_parts(
        description,
        output.status.code().unwrap_or(-1),
        stdout,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A GET with std only: status, headers, body.
pub fn http_get(url: &str) -> (u16, Vec<(String, String)>, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(authority).expect("cannot connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}
