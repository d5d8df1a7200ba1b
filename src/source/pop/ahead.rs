//! `RETR` commands sent ahead of `fetch` when the POP3 server allows pipelining (RFC 2449
//! PIPELINING): while one mail is parsed and deposited, the server is already sending the next
//! ones, and no round trip is waited for per mail. The mails sent ahead wait in the socket's
//! buffers, not in lanceur's memory, and the window is bounded in mails and bytes anyway.
//!
//! The order is the one `prefetch` announced, which is the order the cycle fetches in. Anything
//! else (an item fetched out of order, commands whose answer must come next while mails are still
//! on their way) drops the session and starts afresh, rather than reading answers nobody wants.

use std::collections::VecDeque;

use anyhow::Result;

use super::{lost, PopSource};

/// Most `RETR` commands sent ahead, and most bytes (by listed size) they may bring; at least one.
const AHEAD_ITEMS: usize = 32;
const AHEAD_BYTES: u64 = 4 << 20;

/// The window of `RETR` commands in flight.
#[derive(Default)]
pub(super) struct Ahead {
    /// Slots of the items the cycle is about to fetch, in order (from `prefetch`).
    pub(super) upcoming: Vec<usize>,
    /// Index in `upcoming` of the next item to send `RETR` for.
    pub(super) next: usize,
    /// (slot, message number) of each `RETR` sent and not yet read, in order.
    pub(super) in_flight: VecDeque<(usize, u32)>,
}

impl PopSource {
    /// Makes sure `RETR` was sent for the item in `slot`, and for as many following items as
    /// the window allows when the server pipelines.
    pub(super) fn send_ahead(&mut self, slot: usize) -> Result<()> {
        if self.ahead.in_flight.front().map(|&(s, _)| s) != Some(slot) {
            if !self.ahead.in_flight.is_empty() {
                self.drop_session();
            }
            match self.ahead.upcoming.iter().position(|&s| s == slot) {
                Some(position) => self.ahead.next = position,
                None => {
                    // Not announced by prefetch: this item alone.
                    self.ahead.upcoming = vec![slot];
                    self.ahead.next = 0;
                }
            }
        }
        let address = self.address();
        self.session()?;
        let Some(session) = self.session.as_mut() else {
            unreachable!("just opened")
        };
        let ahead = &mut self.ahead;
        let pipelining = session.client.pipelining();
        // Sizes come from the server: saturate, so a hostile LIST cannot overflow the window.
        let mut bytes: u64 = ahead.in_flight.iter().fold(0u64, |total, &(s, _)| {
            total.saturating_add(self.listed[s].size)
        });
        // Refill when half the window is read, so commands go out in groups, one write each.
        let refill = ahead.in_flight.is_empty()
            || (pipelining && ahead.in_flight.len() <= AHEAD_ITEMS / 2 && bytes <= AHEAD_BYTES / 2);
        if !refill {
            return Ok(());
        }
        let mut sending: Vec<(usize, u32)> = Vec::new();
        while ahead.next < ahead.upcoming.len() {
            let waiting = ahead.in_flight.len() + sending.len();
            let full = !pipelining || waiting >= AHEAD_ITEMS || bytes >= AHEAD_BYTES;
            if waiting > 0 && full {
                break;
            }
            let next = ahead.upcoming[ahead.next];
            ahead.next += 1;
            // A mail gone from the server gets no RETR; fetch reports it.
            let Some(&number) = session.numbers.get(&self.listed[next].uidl) else {
                continue;
            };
            sending.push((next, number));
            bytes = bytes.saturating_add(self.listed[next].size);
        }
        let numbers: Vec<u32> = sending.iter().map(|&(_, n)| n).collect();
        if numbers.is_empty() {
            return Ok(());
        }
        if let Err(err) = session.client.send_retr(&numbers) {
            self.drop_session();
            return Err(lost(err, &address, "asking for mails"));
        }
        ahead.in_flight.extend(sending);
        Ok(())
    }
}
