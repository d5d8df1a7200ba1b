//! Making a batch of files durable while the run goes on: each file handed to `Flusher::submit`
//! is flushed (`fdatasync`, `FlushFileBuffers` on Windows) by a few worker threads, and
//! `Flusher::wait` returns once every file handed over so far is on disk, with the first error.
//!
//! Why per-file and in the background rather than one `syncfs` per batch: `syncfs` flushes
//! everything dirty on the volume, and on a GED server that means a database's or another
//! copy's writes too; a run then waits for them, by an amount lanceur can neither know nor
//! bound (the README's "Flushing a deposit" gives figures, quiet and beside a writer: on a
//! quiet disk one `syncfs` is cheaper). Flushing our own files costs one call each, which the
//! workers make while the main thread fetches and writes the next documents, so that by the end
//! of a batch most are already done. A bounded queue keeps the number of open files handed over
//! small.
//!
//! The contract for the caller (`deposit`): a file is submitted once fully written, as an open
//! handle (a name could be gone by the time a worker opens it); `wait` before anything that
//! relies on the files' contents being durable, such as the journal saying `staged`. The folder
//! entries are not covered: the caller syncs the folders after `wait` (`sync_dir`).

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// Worker threads: flushes wait on the disk, not the CPU, and a few in flight let the disk
/// merge them.
const WORKERS: usize = 4;
/// Files waiting for a worker at most; `submit` blocks beyond that.
const QUEUE: usize = 64;

/// A file to flush and its name, for messages.
type Job = (File, PathBuf);

#[derive(Default)]
struct Progress {
    submitted: u64,
    finished: u64,
    first_error: Option<(PathBuf, io::Error)>,
}

#[derive(Default)]
struct Shared {
    progress: Mutex<Progress>,
    changed: Condvar,
}

impl Shared {
    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Flushes files on worker threads, started on the first `submit` (a run with nothing to take
/// starts none).
#[derive(Default)]
pub struct Flusher {
    queue: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Flusher {
    pub fn new() -> Flusher {
        Flusher::default()
    }

    /// Hands `file` (fully written) over to be flushed; `path` names it in an error.
    pub fn submit(&mut self, file: File, path: PathBuf) {
        self.shared.progress().submitted += 1;
        let queue = self.queue.get_or_insert_with(|| {
            let (sender, receiver) = sync_channel::<Job>(QUEUE);
            let receiver = Arc::new(Mutex::new(receiver));
            for _ in 0..WORKERS {
                let (receiver, shared) = (receiver.clone(), self.shared.clone());
                self.workers
                    .push(std::thread::spawn(move || work(&receiver, &shared)));
            }
            sender
        });
        if let Err(unsent) = queue.send((file, path)) {
            // No worker left (they only stop when the queue closes): flush here instead.
            let (file, path) = unsent.0;
            finish(&self.shared, path, file.sync_data());
        }
    }

    /// Waits until every file submitted so far is flushed. The first failure since the last call
    /// comes back with the file's name; the files submitted after it were still flushed.
    pub fn wait(&mut self) -> Result<(), (PathBuf, io::Error)> {
        let mut progress = self.shared.progress();
        while progress.finished < progress.submitted {
            progress = self
                .shared
                .changed
                .wait(progress)
                .unwrap_or_else(PoisonError::into_inner);
        }
        match progress.first_error.take() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // Closing the queue lets each worker finish what it holds and stop.
        self.queue = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn work(receiver: &Mutex<Receiver<Job>>, shared: &Shared) {
    loop {
        let job = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok((file, path)) = job else { return };
        let result = file.sync_data();
        drop(file);
        finish(shared, path, result);
    }
}

fn finish(shared: &Shared, path: PathBuf, result: io::Result<()>) {
    let mut progress = shared.progress();
    progress.finished += 1;
    if let Err(err) = result {
        progress.first_error.get_or_insert((path, err));
    }
    drop(progress);
    shared.changed.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn wait_returns_once_every_file_is_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let mut flusher = Flusher::new();
        // Nothing submitted: nothing to wait for, and no thread started.
        flusher.wait().unwrap();
        assert!(flusher.workers.is_empty());
        for i in 0..200 {
            let path = dir.path().join(format!("f{i}"));
            let mut file = File::create(&path).unwrap();
            file.write_all(&[b'x'; 4096]).unwrap();
            flusher.submit(file, path);
        }
        flusher.wait().unwrap();
        let progress = flusher.shared.progress();
        assert_eq!((progress.submitted, progress.finished), (200, 200));
        assert_eq!(flusher.workers.len(), WORKERS);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_flush_is_reported_with_the_name_once() {
        // fdatasync on a pipe fails with EINVAL: a file that cannot be made durable.
        let (reader, _writer) = std::io::pipe().unwrap();
        let pipe = File::from(std::os::fd::OwnedFd::from(reader));
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        let mut flusher = Flusher::new();
        flusher.submit(File::create(&good).unwrap(), good);
        flusher.submit(pipe, PathBuf::from("the-pipe"));
        let (path, _err) = flusher.wait().unwrap_err();
        assert_eq!(path, PathBuf::from("the-pipe"));
        flusher.wait().unwrap();
    }
}
