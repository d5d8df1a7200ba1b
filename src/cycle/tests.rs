//! The cycle against a scripted source: what each item outcome does to the run, the COLD folder,
//! the journal and the summary, and what a source that breaks the contract gets.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use anyhow::anyhow;

use super::*;
use crate::aside::Store;
use crate::filter::Filter;
use crate::item::{Content, Document, Listing, Pass, Settled, Skipped};
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
    /// One document, which a filter on `.pdf` rejects.
    Text,
}

struct Scripted {
    items: Vec<(String, Script)>,
    /// Drops this many results from each acknowledgement, to break the contract.
    short_acknowledgements: usize,
    /// Labels of the items it was asked to acknowledge, which the outcome alone does not tell.
    acknowledged: Rc<RefCell<Vec<String>>>,
    /// What it passes over at listing.
    passed: Vec<Skipped>,
    /// Labels of the items it fetched, set aside, and was given as unmatched.
    fetched: Rc<RefCell<Vec<String>>>,
    set_aside: Rc<RefCell<Vec<String>>>,
    unmatched: Rc<RefCell<Vec<String>>>,
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
            fetched: Rc::default(),
            set_aside: Rc::default(),
            unmatched: Rc::default(),
        }
    }
}

impl Source for Scripted {
    fn label(&self) -> &str {
        "scripted"
    }

    fn list(
        &mut self,
        _wanted: &mut dyn FnMut(&str) -> bool,
        _settled: &Settled<'_>,
    ) -> Result<Listing> {
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
        self.fetched.borrow_mut().push(name.clone());
        let why = |what: &str| anyhow!("{what} {name}");
        match script {
            Script::Text => Ok(vec![Document {
                name: format!("{name}.txt"),
                content: Content::Bytes(b"text".to_vec()),
                fields: Vec::new(),
            }]),
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

    fn leave_unmatched(&mut self, items: &[&Item]) -> Vec<Result<(), ItemError>> {
        self.unmatched
            .borrow_mut()
            .extend(items.iter().map(|item| item.label.clone()));
        items.iter().map(|_| Ok(())).collect()
    }

    fn set_aside(&mut self, item: &Item, keep: &Path) -> Result<crate::item::Aside, ItemError> {
        self.set_aside.borrow_mut().push(item.label.clone());
        std::fs::write(keep.join("raw"), b"raw bytes").unwrap();
        Ok(crate::item::Aside {
            how: "moved to the side".into(),
            place: Some("side".into()),
        })
    }

    fn restore(&mut self, key: &ItemKey, place: Option<&str>) -> Result<()> {
        assert_eq!(place, Some("side"), "{key}");
        self.acknowledged
            .borrow_mut()
            .push(format!("restored {key}"));
        Ok(())
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
            set_aside_after: 3,
            run_timeout: std::time::Duration::from_secs(3600),
            watch: Default::default(),
            dry_run: false,
            check: false,
            retry: None,
            json: false,
            verbose: 0,
            log_file: None,
            source: SourceConfig::Dir(DirConfig {
                folder: root.path().join("unused"),
                recursive: false,
                min_age: std::time::Duration::ZERO,
                grace_period: std::time::Duration::ZERO,
                archive: None,
                failed: None,
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
    // Not done: only its failure is counted, for --set-aside-after.
    assert_eq!(
        bench.journal().get("a"),
        Some(&State::Failed(1, "damaged a".into()))
    );
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
    assert_eq!(outcome.summary.set_aside, 1);
    assert_eq!(acknowledged, vec!["b"]);
    // Set aside at once, not deposited.
    assert_eq!(bench.journal().get("a"), Some(&State::Aside));
}

#[test]
fn an_item_failing_three_runs_in_a_row_is_set_aside_once_then_left_alone() {
    let bench = Bench::new();
    let script = [("a", Script::Failed), ("b", Script::Document)];
    for run in 1..=2 {
        let (outcome, _) = bench.run(Scripted::new(&script));
        assert_eq!(code(&outcome), exit::ITEM_FAILED, "run {run}");
        assert_eq!(outcome.summary.set_aside, 0, "run {run}");
    }
    let source = Scripted::new(&script);
    let set_aside = source.set_aside.clone();
    let (outcome, _) = bench.run(source);
    assert_eq!(code(&outcome), exit::ITEM_FAILED);
    assert_eq!((outcome.summary.failed, outcome.summary.set_aside), (1, 1));
    assert_eq!(*set_aside.borrow(), vec!["a"]);
    assert_eq!(bench.journal().get("a"), Some(&State::Aside));
    let records = Store::new(&bench.launcher.state_dir).list();
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].failures, records[0].kept.clone()),
        (3, vec!["raw".to_string()])
    );
    // Later runs do not fetch it and say nothing of it.
    let source = Scripted::new(&script);
    let fetched = source.fetched.clone();
    let (outcome, _) = bench.run(source);
    assert_eq!(code(&outcome), exit::OK);
    assert_eq!(outcome.summary.failed, 0);
    assert!(fetched.borrow().is_empty(), "{:?}", fetched.borrow());
    // lanceur retry: put back, forgotten, taken again by the same run (and failing again).
    let mut launcher = bench.launcher.clone();
    launcher.retry = Some(crate::settings::Retry {
        all: true,
        keys: Vec::new(),
    });
    let source = Scripted::new(&script);
    let (fetched, acknowledged) = (source.fetched.clone(), source.acknowledged.clone());
    let outcome = run_with(&launcher, &Reporter::new("test"), move |_| {
        Ok(Box::new(source))
    });
    assert_eq!(code(&outcome), exit::ITEM_FAILED);
    assert_eq!(*acknowledged.borrow(), vec!["restored test:a"]);
    assert_eq!(*fetched.borrow(), vec!["a"]);
    assert!(Store::new(&bench.launcher.state_dir).list().is_empty());
    assert_eq!(
        bench.journal().get("a"),
        Some(&State::Failed(1, "damaged a".into()))
    );
}

#[test]
fn an_item_the_filters_keep_nothing_of_is_left_unacknowledged_until_they_change() {
    let mut bench = Bench::new();
    bench.launcher.filter = Filter::new(&["/.*\\.pdf$/".into()], &[]).unwrap();
    let script = [("a", Script::Text), ("b", Script::Document)];
    let source = Scripted::new(&script);
    let unmatched = source.unmatched.clone();
    let (outcome, acknowledged) = bench.run(source);
    assert_eq!(code(&outcome), exit::OK);
    assert_eq!(acknowledged, vec!["b"], "never the post-action");
    assert_eq!(*unmatched.borrow(), vec!["a"]);
    assert_eq!(
        (outcome.summary.unmatched, outcome.summary.deposited),
        (1, 1)
    );
    assert!(matches!(
        bench.journal().get("a"),
        Some(State::Unmatched(_))
    ));
    // Same filters: not fetched again.
    let source = Scripted::new(&script);
    let fetched = source.fetched.clone();
    let (outcome, acknowledged) = bench.run(source);
    assert!(fetched.borrow().is_empty());
    assert!(acknowledged.is_empty());
    assert_eq!(outcome.summary.unmatched, 0);
    // The filters changed (the typo fixed): judged again, and taken.
    bench.launcher.filter = Filter::new(&["/.*\\.(pdf|txt)$/".into()], &[]).unwrap();
    let source = Scripted::new(&script);
    let fetched = source.fetched.clone();
    let (outcome, acknowledged) = bench.run(source);
    assert_eq!(*fetched.borrow(), vec!["a"]);
    assert_eq!(acknowledged, vec!["a"]);
    assert_eq!(outcome.summary.deposited, 1);
    assert!(bench.cold().contains(&"a.txt".to_string()));
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
    let _held = crate::lock::acquire(&bench.launcher.state_dir).unwrap();
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
