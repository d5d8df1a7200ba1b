//! File-name filters, matched the way the original Python launcher matched them.
//!
//! The launcher this tool replaces called Python's `re.match(pattern, name)`: the match is anchored at
//! the start of the name and *not* at its end. So `.*\.pdf` keeps `a.pdf` but also `a.pdf.bak`, and the
//! seed's `/(?!debut_nom_fichier).*\..*/` drops exactly the names that *begin* with the prefix. We keep
//! those semantics so that existing EzGED launcher configurations carry over unchanged.
//!
//! A pattern may be written bare or between slashes with trailing flags, as the EzGED form shows them:
//! `/.*\.pdf/i`. Lookaround (`(?!…)`, `(?<=…)`) is why we use `fancy-regex` rather than `regex`.

use anyhow::{bail, Result};
use fancy_regex::Regex;

/// One compiled pattern, remembering how the user wrote it for messages.
#[derive(Debug, Clone)]
pub struct Pattern {
    written: String,
    regex: Regex,
}

impl Pattern {
    /// Parses `PATTERN` or `/PATTERN/FLAGS`. Flags: `i` (ignore case), `s` (dot matches newline),
    /// `m` (multi-line), `x` (verbose), and `u` (accepted, Unicode is always on).
    pub fn parse(written: &str) -> Result<Pattern> {
        let (body, flags) = split_delimiters(written)?;
        let mut inline = String::new();
        for flag in flags.chars() {
            match flag {
                'i' | 's' | 'm' | 'x' => {
                    if !inline.contains(flag) {
                        inline.push(flag);
                    }
                }
                'u' => {}
                other => bail!(
                    "invalid filter pattern {written:?}: unknown flag {other:?} after the closing slash \
                     (known flags: i, s, m, x, u)"
                ),
            }
        }
        let translated = translate_python_escapes(body);
        let flags = if inline.is_empty() {
            String::new()
        } else {
            format!("(?{inline})")
        };
        // The user's pattern alone first, so that a mistake is told where they made it: inside the
        // wrapper below, an unbalanced `)` would close the wrapper's group instead.
        if let Err(err) = Regex::new(&format!("{flags}{translated}")) {
            bail!("{}", Self::explain(written, body, flags.len(), &err));
        }
        // `\A(?:…)` is Python's re.match: anchored at the start, free at the end. The group keeps a
        // top-level alternation `a|b` inside the anchor.
        let source = format!(r"{flags}\A(?:{translated})");
        match Regex::new(&source) {
            Ok(regex) => Ok(Pattern {
                written: written.to_string(),
                regex,
            }),
            Err(err) => bail!("invalid filter pattern {written:?}: {err}"),
        }
    }

    /// "invalid filter pattern "*.pdf": target of repeat operator is invalid at position 0; …":
    /// the position counts in what the user typed (the engine counts from the start of what it was
    /// given: the flags, and not the opening slash; the escape translation keeps lengths).
    fn explain(written: &str, body: &str, flags: usize, err: &fancy_regex::Error) -> String {
        let why = match err {
            fancy_regex::Error::ParseError(at, kind) => {
                // The engine notices these at the end; the mistake is where they open.
                let at = match kind {
                    fancy_regex::ParseError::UnclosedOpenParen => left_open(body).0,
                    fancy_regex::ParseError::InvalidClass => left_open(body).1,
                    _ => None,
                }
                .unwrap_or_else(|| at.saturating_sub(flags).min(body.len()));
                let at = at + usize::from(written.starts_with('/'));
                format!("{} at position {at}", lowercase_first(&kind.to_string()))
            }
            other => lowercase_first(&other.to_string()),
        };
        match glob_as_regex(body) {
            Some(suggested) => format!(
                "invalid filter pattern {written:?}: {why}; patterns are regular expressions, not \
                 wildcards: for {body} write {suggested}"
            ),
            None => format!("invalid filter pattern {written:?}: {why}"),
        }
    }

    /// The pattern as the user wrote it.
    pub fn as_written(&self) -> &str {
        &self.written
    }

    /// Whether the pattern matches at the start of `name`. A pattern that exhausts the regex engine's
    /// backtracking budget on this name is an error, not a silent "no".
    pub fn matches(&self, name: &str) -> Result<bool> {
        match self.regex.is_match(name) {
            Ok(found) => Ok(found),
            Err(err) => bail!(
                "filter pattern {:?} could not be evaluated on {name:?}: {err}",
                self.written
            ),
        }
    }
}

/// `/body/flags` → (`body`, `flags`); anything else is a bare pattern with no flags.
fn split_delimiters(written: &str) -> Result<(&str, &str)> {
    let Some(rest) = written.strip_prefix('/') else {
        return Ok((written, ""));
    };
    let Some(close) = rest.rfind('/') else {
        bail!(
            "invalid filter pattern {written:?}: it starts with '/' but has no closing '/' \
             (write /PATTERN/ or PATTERN without slashes)"
        );
    };
    let (body, flags) = (&rest[..close], &rest[close + 1..]);
    if !flags.chars().all(|c| c.is_ascii_alphabetic()) {
        bail!(
            "invalid filter pattern {written:?}: only flag letters may follow the closing '/', found {flags:?}"
        );
    }
    Ok((body, flags))
}

/// The regular expression for `text` read as a shell wildcard (`*.pdf` → `/.*\.pdf$/i`), when it
/// looks like one: it starts with `*` or `?`, which no regular expression can.
fn glob_as_regex(text: &str) -> Option<String> {
    if !text.starts_with(['*', '?']) {
        return None;
    }
    let mut regex = String::from("/");
    for c in text.chars() {
        match c {
            '*' => regex.push_str(".*"),
            '?' => regex.push('.'),
            c if c.is_alphanumeric() || c == ' ' || c == '_' || c == '-' => regex.push(c),
            c => {
                regex.push('\\');
                regex.push(c);
            }
        }
    }
    regex.push_str("$/i");
    Some(regex)
}

/// Where the mistake the engine notices only at the end begins: the last parenthesis never
/// closed, or a character class never closed (outside escapes).
fn left_open(body: &str) -> (Option<usize>, Option<usize>) {
    let mut parens: Vec<usize> = Vec::new();
    let mut class: Option<usize> = None;
    let mut chars = body.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' if class.is_none() => {
                class = Some(at);
                // A `]` right after `[` or `[^` is a member, not the end.
                chars.next_if(|(_, c)| *c == '^');
                chars.next_if(|(_, c)| *c == ']');
            }
            ']' if class.is_some() => class = None,
            '(' if class.is_none() => parens.push(at),
            ')' if class.is_none() => {
                parens.pop();
            }
            _ => {}
        }
    }
    (parens.last().copied(), class)
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Rewrites the few Python escapes whose spelling differs in Rust's syntax: `\Z` (end of text) is `\z`.
fn translate_python_escapes(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Z') => out.push_str(r"\z"),
            Some(next) => {
                out.push('\\');
                out.push(next);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Why a name was kept or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// No include pattern matched.
    NotIncluded,
    /// This exclude pattern matched.
    Excluded(String),
    /// A pattern could not be evaluated; the message says which and why.
    Error(String),
}

impl Verdict {
    pub fn is_keep(&self) -> bool {
        matches!(self, Verdict::Keep)
    }

    /// Short reason for dry-run listings and logs.
    pub fn reason(&self) -> String {
        match self {
            Verdict::Keep => "kept".into(),
            Verdict::NotIncluded => "no --filter pattern matches".into(),
            Verdict::Excluded(pattern) => format!("excluded by {pattern}"),
            Verdict::Error(message) => message.clone(),
        }
    }
}

/// Include patterns (any may match; none given means every name) and exclude patterns (none may match).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

impl Filter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filter> {
        Ok(Filter {
            include: include
                .iter()
                .map(|p| Pattern::parse(p))
                .collect::<Result<_>>()?,
            exclude: exclude
                .iter()
                .map(|p| Pattern::parse(p))
                .collect::<Result<_>>()?,
        })
    }

    /// Names these filters, so that the journal can tell whether they changed since it judged an
    /// item: the patterns as written, in order, hashed.
    pub fn fingerprint(&self) -> String {
        let mut text = String::new();
        for (kind, patterns) in [("+", &self.include), ("-", &self.exclude)] {
            for pattern in patterns {
                text.push_str(kind);
                text.push_str(pattern.as_written());
                text.push('\n');
            }
        }
        crate::names::short_tag(&text)
    }

    pub fn judge(&self, name: &str) -> Verdict {
        if !self.include.is_empty() {
            let mut included = false;
            for pattern in &self.include {
                match pattern.matches(name) {
                    Ok(true) => {
                        included = true;
                        break;
                    }
                    Ok(false) => {}
                    Err(err) => return Verdict::Error(format!("{err:#}")),
                }
            }
            if !included {
                return Verdict::NotIncluded;
            }
        }
        for pattern in &self.exclude {
            match pattern.matches(name) {
                Ok(true) => return Verdict::Excluded(pattern.as_written().to_string()),
                Ok(false) => {}
                Err(err) => return Verdict::Error(format!("{err:#}")),
            }
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_change_with_the_patterns() {
        let a = Filter::new(&["/.*\\.pdf/".into()], &[]).unwrap();
        let b = Filter::new(&["/.*\\.PDF/".into()], &[]).unwrap();
        let c = Filter::new(&[], &["/.*\\.pdf/".into()]).unwrap();
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    fn keeps(pattern: &str, name: &str) -> bool {
        Filter::new(&[pattern.to_string()], &[])
            .unwrap()
            .judge(name)
            .is_keep()
    }

    #[test]
    fn anchored_at_start_only() {
        assert!(keeps(r".*\.pdf", "a.pdf"));
        assert!(
            keeps(r".*\.pdf", "a.pdf.bak"),
            "re.match does not anchor the end"
        );
        assert!(!keeps(r"\.pdf", "a.pdf"), "re.match anchors the start");
    }

    #[test]
    fn alternation_stays_anchored() {
        assert!(keeps("a|b", "bx"));
        assert!(!keeps("a|b", "xb"));
    }

    #[test]
    fn slashes_and_flags() {
        assert!(keeps(r"/.*\.PDF/i", "scan.pdf"));
        assert!(!keeps(r"/.*\.PDF/", "scan.pdf"));
        assert!(keeps(r"/scan\.pdf\Z/", "scan.pdf"));
        assert!(!keeps(r"/scan\.pdf\Z/", "scan.pdf.bak"));
    }

    #[test]
    fn bad_patterns_name_themselves() {
        let err = Pattern::parse("/(unclosed/").unwrap_err().to_string();
        assert!(err.contains("(unclosed"), "{err}");
        let err = Pattern::parse("/x/q").unwrap_err().to_string();
        assert!(err.contains("unknown flag 'q'"), "{err}");
        let err = Pattern::parse("/x").unwrap_err().to_string();
        assert!(err.contains("no closing"), "{err}");
    }

    #[test]
    fn a_wildcard_is_answered_with_the_regular_expression_it_meant() {
        // See: issue 16.
        let err = Pattern::parse("*.pdf").unwrap_err().to_string();
        assert!(err.contains("at position 0"), "{err}");
        assert!(
            err.contains(r"not wildcards: for *.pdf write /.*\.pdf$/i"),
            "{err}"
        );
        let err = Pattern::parse("/*.PDF/i").unwrap_err().to_string();
        assert!(
            err.starts_with(r#"invalid filter pattern "/*.PDF/i""#),
            "{err}"
        );
        assert!(err.contains("at position 1"), "{err}");
        assert!(err.contains(r"write /.*\.PDF$/i"), "{err}");
        // The suggestion is itself a pattern that keeps what the wildcard meant.
        let suggested = Pattern::parse(r"/.*\.pdf$/i").unwrap();
        assert!(suggested.matches("Scan 1.PDF").unwrap());
        assert!(!suggested.matches("scan.pdf.part").unwrap());
        // Positions count in what was typed, the slash included.
        let err = Pattern::parse("/ab(c/").unwrap_err().to_string();
        assert!(!err.contains("wildcards"), "{err}");
        assert!(err.contains("at position 3"), "{err}");
        let err = Pattern::parse("a)").unwrap_err().to_string();
        assert!(err.contains("at position 1"), "{err}");
        let err = Pattern::parse("/x/i")
            .map(|_| ())
            .and(Pattern::parse("/[a/i").map(|_| ()));
        assert!(err.unwrap_err().to_string().contains("at position"));
    }

    #[test]
    fn exclude_reports_its_pattern() {
        let filter = Filter::new(&[], &[r"/.*\.db/".into()]).unwrap();
        assert_eq!(
            filter.judge("Thumbs.db"),
            Verdict::Excluded(r"/.*\.db/".into())
        );
        assert_eq!(filter.judge("a.pdf"), Verdict::Keep);
    }
}
