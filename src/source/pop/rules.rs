//! `--from` and `--subject` for POP3, which has no search: each mail's header block is read at
//! listing with `TOP n 0`.

use anyhow::Result;

use super::{lost, PopSource};
use crate::extract::mail;
use crate::item::{Listing, Skipped};

/// Most bytes of one mail's header block read for `--from` and `--subject`.
const HEADER_LIMIT: u64 = 4 << 20;

impl PopSource {
    /// `--from` and `--subject`, judged at listing on each mail's header block (`TOP n 0`, one
    /// pipelined exchange when the server allows it): a mail that does not match is no
    /// candidate, so it is neither fetched, deleted nor journaled. POP3 has no flags to remember
    /// a judgement by, so every run reads the headers of every mail left on the server; with
    /// `--keep`, old mails count too.
    pub(super) fn apply_rules(&mut self, listing: &mut Listing) -> Result<()> {
        let address = self.address();
        let rules = self.config.mail.rules.clone();
        let uidls: Vec<String> = self.listed.iter().map(|l| l.uidl.clone()).collect();
        let session = self.session()?;
        let numbers: Vec<u32> = uidls
            .iter()
            .map(|uidl| session.numbers.get(uidl).copied().unwrap_or(0))
            .collect();
        let headers = session
            .client
            .top_headers(&numbers, HEADER_LIMIT)
            .map_err(|err| lost(err, &address, "reading the mails' headers (TOP)"))?;
        let mut kept_items = Vec::new();
        let mut kept_listed = Vec::new();
        let items = std::mem::take(&mut listing.items);
        let listed = std::mem::take(&mut self.listed);
        for ((mut item, entry), header) in items.into_iter().zip(listed).zip(headers) {
            let refusal = match header {
                Ok(block) => {
                    let headline = mail::headline(&block);
                    rules.refusal(&headline.senders, &headline.subject)
                }
                Err(err) => Some(format!(
                    "the server would not send its header for --from and --subject ({err})"
                )),
            };
            if let Some(reason) = refusal {
                listing.complete = false;
                listing.skipped.push(Skipped::routine(item.label, reason));
                continue;
            }
            item.slot = kept_listed.len();
            kept_items.push(item);
            kept_listed.push(entry);
        }
        listing.items = kept_items;
        self.listed = kept_listed;
        Ok(())
    }
}
