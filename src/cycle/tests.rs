//! The cycle against a scripted source: what each item outcome does to the run, the COLD folder,
//! the journal and the summary, and what a source that breaks the contract gets.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use anyhow::anyhow;

use super::*;
use crate::filter::Filter;
use crate::item::{Content, Document, Listing, Pass, Skipped};
use crate::journal::State;
use crate::settings::IndexFormat;
use crate::settings::{DirConfig, SourceConfig};

/// What the scripted source answers for one item.
#[derive(Clone, Copy)]
enum Script {
    Document,
    Stop,
    Failed,
    NotReady,
    SetAside,
}

struct Scripted {
    items: Vec<(String, Script)>,
    /// Drops this many results from each acknowledgement, to break the contract.
    short_acknowledgements: usize,
    /// Labels of the items it was asked to acknowledge, which the outcome alone does not tell.
    acknowledged: Rc<RefCell<Vec<String>>>,
    /// What it passes over at listing.
    passed: Vec<Skipped>,
}

impl Scripted {
    fn new(items: &[(&str, Script)]) -> Scripted {
        Scripted {
            items: items
                .iter()
                .map(|(name, script)| (name.to_string(), *script))
                .collect(),
            short_acknowledgements: 0,
            acknowledged: Rc::default(),
            passed: Vec::new(),
        }
    }
}

impl Source for Scripted {
    fn label(&self) -> &str {
        "scripted"
    }

    fn list(&mut self, _wanted: &mut dyn FnMut(&str) -> bool) -> Result<Listing> {
        Ok(Listing {
            items: self
                .items
                .iter()
                .enumerate()
                .map(|(slot, (name, _))| Item {
                    key: ItemKey(format!("test:{name}")),
                    label: name.clone(),
                    name: None,
                    size: 10,
                    slot,
                    aliases: Vec::new(),
                })
                .collect(),
            skipped: self.passed.clone(),
            complete: true,
        })
    }

    fn fetch(&mut self, item: &Item) -> Result<Vec<Document>, ItemError> {
        let (name, script) = &self.items[item.slot];
        let why = |what: &str| anyhow!("{what} {name}");
        match script {
            Script::Document => Ok(vec![Document {
                name: format!("{name}.pdf"),
                content: Content::Bytes(format!("content of {name}").into_bytes()),
                fields: Vec::new(),
            }]),
            Script::Stop => Err(ItemError::stop(Failure::Auth, why("login expired at"))),
            Script::Failed => Err(ItemError::failed(why("damaged"))),
            Script::NotReady => Err(ItemError::not_ready(why("still written"))),
            Script::SetAside => Err(ItemError::SetAside(why("moved to /failed:"))),
        }
    }

    fn acknowledge(&mut self, items: &[&Item]) -> Vec<Result<(), ItemError>> {
        self.acknowledged
            .borrow_mut()
            .extend(items.iter().map(|item| item.label.clone()));
        let count = items.len().saturating_sub(self.short_acknowledgements);
        (0..count).map(|_| Ok(())).collect()
    }
}

struct Bench {
    _root: tempfile::TempDir,
    launcher: Launcher,
}

impl Bench {
    fn new() -> Bench {
        let root = tempfile::tempdir().unwrap();
        let cold = root.path().join("cold");
        std::fs::create_dir(&cold).unwrap();
        let launcher = Launcher {
            name: "test".into(),
            state_dir: root.path().join("state"),
            dest: cold,
            filter: Filter::new(&[], &[]).unwrap(),
            index: IndexFormat::None,
            max_items: None,
            max_bytes: None,
            dry_run: false,
            check: false,
            json: false,
            verbose: 0,
            log_file: None,
            source: SourceConfig::Dir(DirConfig {
                folder: root.path().join("unused"),
                recursive: false,
                min_age: std::time::Duration::ZERO,
                grace_period: std::time::Duration::ZERO,
                archive: None,
            }),
        };
        Bench {
            _root: root,
            launcher,
        }
    }

    /// Runs one cycle on `source`; returns the outcome and what the source was asked to
    /// acknowledge.
    fn run(&self, source: Scripted) -> (Outcome, Vec<String>) {
        let acknowledged = source.acknowledged.clone();
        let outcome = run_with(&self.launcher, &Reporter::new("test"), move |_| {
            Ok(Box::new(source))
        });
        let acknowledged = acknowledged.borrow().clone();
        (outcome, acknowledged)
    }

    fn cold(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.launcher.dest)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn journal(&self) -> HashMap<String, State> {
        let journal = Journal::open(&self.launcher.state_dir.join("journal"), false).unwrap();
        ["a", "b", "c", "d"]
            .iter()
            .filter_map(|name| {
                let key = ItemKey(format!("test:{name}"));
                journal.state(&key).map(|s| (name.to_string(), s.clone()))
            })
            .collect()
    }
}

fn code(outcome: &Outcome) -> u8 {
    outcome.exit_code()
}

#[test]
fn every_document_deposited_journaled_and_acknowledged() {
    let bench = Bench::new();
    let (outcome, acknowledged) = bench.run(Scripted::new(&[
        ("a", Script::Document),
        ("b", Script::Document),
    ]));
    assert!(outcome.error.is_none());
    assert_eq!(code(&outcome), exit::OK);
    assert_eq!(bench.cold(), vec!["a.pdf", "b.pdf"]);
    assert_eq!(acknowledged, vec!["a", "b"]);
    assert_eq!(outcome.summary.deposited, 2);
    assert!(bench.journal().values().all(|s| *s == State::Acked));
}

#[test]
fn a_failed_item_is_counted_left_unjournaled_and_the_others_go_on() {
    let bench = Bench::new();
    let (outcome, acknowledged) = bench.run(Scripted::new(&[
        ("a", Script::Failed),
        ("b", Script::Document),
    ]));
    assert!(outcome.error.is_none());
    assert_eq!(code(&outcome), exit::ITEM_FAILED);
    assert_eq!(outcome.summary.failed, 1);
    assert_eq!(bench.cold(), vec!["b.pdf"]);
    assert_eq!(acknowledged, vec!["b"]);
    assert!(!bench.journal().contains_key("a"));
}

#[test]
fn a_set_aside_item_is_a_failure_too() {
    let bench = Bench::new();
    let (outcome, acknowledged) = bench.run(Scripted::new(&[
        ("a", Script::SetAside),
        ("b", Script::Document),
    ]));
    assert_eq!(code(&outcome), exit::ITEM_FAILED);
    assert_eq!(outcome.summary.failed, 1);
    assert_eq!(acknowledged, vec!["b"]);
    assert!(!bench.journal().contains_key("a"));
}

#[test]
fn a_not_ready_item_waits_silently_without_failing_the_run() {
    let bench = Bench::new();
    let (outcome, acknowledged) = bench.run(Scripted::new(&[
        ("a", Script::NotReady),
        ("b", Script::Document),
    ]));
    assert!(outcome.error.is_none());
    assert_eq!(code(&outcome), exit::OK);
    assert_eq!(outcome.summary.failed, 0);
    assert_eq!(outcome.summary.skipped, 1);
    assert_eq!(acknowledged, vec!["b"]);
    assert!(!bench.journal().contains_key("a"));
}

#[test]
fn a_stop_ends_the_run_with_its_code_after_finishing_what_was_staged() {
    let bench = Bench::new();
    let (outcome, acknowledged) = bench.run(Scripted::new(&[
        ("a", Script::Document),
        ("b", Script::Stop),
        ("c", Script::Document),
    ]));
    let error = outcome.error.as_ref().expect("the run stopped");
    assert_eq!(code(&outcome), exit::AUTH);
    let message = exit::message_for(error);
    assert!(message.contains("while fetching b"), "{message}");
    assert!(message.contains("login expired at b"), "{message}");
    // What the batch had staged before the stop is deposited and acknowledged; c is not touched.
    assert_eq!(bench.cold(), vec!["a.pdf"]);
    assert_eq!(acknowledged, vec!["a"]);
    assert_eq!(bench.journal().get("a"), Some(&State::Acked));
    assert!(!bench.journal().contains_key("c"));
}

#[test]
fn too_few_acknowledgement_results_stop_the_run_and_acknowledge_again_next_time() {
    let bench = Bench::new();
    let mut source = Scripted::new(&[("a", Script::Document), ("b", Script::Document)]);
    source.short_acknowledgements = 1;
    let (outcome, _) = bench.run(source);
    let error = outcome.error.as_ref().expect("the run stopped");
    assert_eq!(code(&outcome), exit::SOURCE);
    let message = exit::message_for(error);
    assert!(
        message.contains("answered 1 acknowledgement result(s) for 2 item(s)"),
        "{message}"
    );
    // Deposited and journaled as done, never as acknowledged: the next run acknowledges them again
    // and deposits nothing twice.
    assert_eq!(bench.cold(), vec!["a.pdf", "b.pdf"]);
    assert!(bench.journal().values().all(|s| *s == State::Done));
    let (outcome, acknowledged) = bench.run(Scripted::new(&[
        ("a", Script::Document),
        ("b", Script::Document),
    ]));
    assert!(outcome.error.is_none());
    assert_eq!(acknowledged, vec!["a", "b"]);
    assert_eq!(outcome.summary.reacknowledged, 2);
    assert_eq!(bench.cold(), vec!["a.pdf", "b.pdf"]);
}

#[test]
fn a_lock_held_by_another_run_ends_in_the_outcome() {
    let bench = Bench::new();
    std::fs::create_dir_all(&bench.launcher.state_dir).unwrap();
    let _held = lock::acquire(&bench.launcher.state_dir).unwrap();
    let (outcome, acknowledged) = bench.run(Scripted::new(&[("a", Script::Document)]));
    assert_eq!(code(&outcome), exit::LOCKED);
    assert!(acknowledged.is_empty());
    assert!(bench.cold().is_empty());
    assert!(Path::new(&bench.launcher.state_dir).is_dir());
}

#[test]
fn what_the_source_left_overdue_fails_the_run_and_what_waits_does_not() {
    let bench = Bench::new();
    let mut source = Scripted::new(&[("a", Script::Document)]);
    let passed = |label: &str, pass| Skipped {
        label: label.into(),
        reason: "reason".into(),
        pass,
    };
    source.passed = vec![
        passed("scan.pdf.part", Pass::Routine),
        passed("acte.xml", Pass::Waiting),
        passed("orphan.pdf", Pass::Overdue),
    ];
    let (outcome, acknowledged) = bench.run(source);
    assert!(outcome.error.is_none());
    assert_eq!(code(&outcome), exit::ITEM_FAILED);
    assert_eq!(outcome.summary.failed, 1);
    assert_eq!(outcome.summary.skipped, 2);
    assert_eq!(outcome.summary.seen, 4);
    assert_eq!(acknowledged, vec!["a"]);
    assert_eq!(bench.cold(), vec!["a.pdf"]);
}
