//! What every mail protocol shares: how a mail becomes documents (`extract::mail::Options`) and
//! which mails are taken at all (`Rules`, `--from` and `--subject`).

use crate::extract::mail::Options;
use crate::filter::Pattern;

#[derive(Debug, Clone, Default)]
pub struct MailSettings {
    pub extract: Options,
    pub rules: Rules,
}

/// `--from` and `--subject`: a mail is taken only when its sender matches one `--from` pattern (if
/// any is given) and its subject one `--subject` pattern (if any). A mail that does not match is
/// not a candidate: it is left as it is at the source and not journaled.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub from: Vec<Pattern>,
    pub subject: Vec<Pattern>,
}

impl Rules {
    pub fn is_empty(&self) -> bool {
        self.from.is_empty() && self.subject.is_empty()
    }

    /// `None` when the mail is taken, else why not (for dry runs and `-v`). `senders`: the
    /// sender's address and its full form (`Name <address>`); matching either is enough.
    /// `subject`: decoded, empty when the mail has none. A pattern that cannot be evaluated on a
    /// value (the regex engine's backtracking budget) does not match it, with a warning: the mail
    /// stays at the source.
    pub fn refusal(&self, senders: &[String], subject: &str) -> Option<String> {
        let hit = |patterns: &[Pattern], values: &[&str]| {
            patterns.is_empty()
                || patterns.iter().any(|p| {
                    values.iter().any(|v| {
                        p.matches(v).unwrap_or_else(|err| {
                            log::warn!("{err:#}");
                            false
                        })
                    })
                })
        };
        let senders: Vec<&str> = senders.iter().map(String::as_str).collect();
        if !hit(&self.from, &senders) {
            let sender = senders.last().copied().unwrap_or("");
            return Some(format!("its sender «{sender}» matches no --from pattern"));
        }
        if !hit(&self.subject, &[subject]) {
            return Some(format!(
                "its subject «{subject}» matches no --subject pattern"
            ));
        }
        None
    }
}
