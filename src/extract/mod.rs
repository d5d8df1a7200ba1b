//! Turning containers from outside (archives, and in time mails) into named pieces of content.
//!
//! These modules are written as if they were crates of their own: they know nothing of the command
//! line, the cycle, the journal or the COLD folder, and never write anywhere but anonymous temporary
//! files. Whoever calls them decides what the pieces become.

pub mod archive;
