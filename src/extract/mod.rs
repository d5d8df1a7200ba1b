//! Turning what a source fetched into named documents, independently of the protocol that fetched
//! it: a mail's attachments (`mail`), later an archive's entries. These modules never import `cli`
//! or `cycle`: they take bytes and options, and return `Document`s or an untagged error that fails
//! the one item.

pub mod mail;
