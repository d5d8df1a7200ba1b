//! `--from` and `--subject` for Office 365: Graph's listing has both, so a mail that does not
//! match is no candidate and is never fetched, marked or journaled.

use super::{describe, person, Message};
use crate::item::Skipped;
use crate::settings::Rules;

/// The messages `rules` take, and the others with the reason.
pub(super) fn by_rules(messages: Vec<Message>, rules: &Rules) -> (Vec<Message>, Vec<Skipped>) {
    let mut skipped = Vec::new();
    let mut kept = Vec::new();
    for message in messages {
        if !rules.is_empty() {
            let mut senders = Vec::new();
            if let Some(email) = message.from.as_ref().and_then(|f| f.email_address.as_ref()) {
                senders.extend(email.address.clone());
            }
            if let Some(from) = &message.from {
                senders.push(person(from));
            }
            let subject = message.subject.clone().unwrap_or_default();
            if let Some(reason) = rules.refusal(&senders, &subject) {
                skipped.push(Skipped::routine(describe(&message), reason));
                continue;
            }
        }
        kept.push(message);
    }
    (kept, skipped)
}
