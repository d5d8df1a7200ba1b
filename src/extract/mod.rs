//! Turning what a source fetched into named pieces of content, independently of the protocol that
//! fetched it: a mail's attachments (`mail`), an archive's entries (`archive`).
//!
//! These modules are written as if they were crates of their own: they know nothing of the command
//! line, the cycle, the journal or the COLD folder, and never write anywhere but anonymous temporary
//! files. They take bytes and options and return documents or pieces, or an untagged error that
//! fails the one item; whoever calls them decides what the pieces become.

pub mod archive;
pub mod mail;
