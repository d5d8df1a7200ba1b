//! Making a batch of files durable: each file handed to `Flusher::submit` once written is held,
//! and `Flusher::wait` returns once every file handed over so far is on disk, with the first
//! error.
//!
//! How, decided at `wait` (or once `HOLD` files are held) from how much data waits for the disk
//! (`quiet.rs`): on a quiet volume one `syncfs` per volume holding the files, the cheapest way;
//! otherwise each file flushed on its own (`fdatasync`, `FlushFileBuffers` on Windows) by a few
//! worker threads, so that the run never waits for a database's or another copy's writes, by an
//! amount lanceur could neither know nor bound (the README's "Flushing a deposit" gives figures,
//! quiet and beside a writer). Once a batch found the disk busy, its later files go to the
//! workers as soon as they are submitted, which flush them while the main thread fetches and
//! writes the next documents. A `syncfs` that fails is followed by per-file flushes of the
//! volume's files, which name the file that could not be written. Off Linux every file goes to
//! the workers.
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

use super::quiet::{self, Way};

/// Worker threads: flushes wait on the disk, not the CPU, and a few in flight let the disk
/// merge them.
const WORKERS: usize = 4;
/// Files waiting for a worker at most; `submit` blocks beyond that.
const QUEUE: usize = 64;
/// Files held open for the decision at most: beyond that the decision is taken early, for those
/// held, so that open files stay well under the usual limit of 1,024. A batch (256 documents
/// and their sidecars) fits.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const HOLD: usize = 512;

/// A written file waiting for the decision: its size counts as the batch's own data, its
/// volume says which `syncfs` covers it.
struct Held {
    file: File,
    path: PathBuf,
    bytes: u64,
    volume: u64,
}

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

/// Flushes files by volume or on worker threads, started when first needed (a run with nothing
/// to take, or only quiet batches, starts none).
pub struct Flusher {
    queue: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    /// Files submitted since the last decision, held open for it.
    held: Vec<Held>,
    /// This batch found the disk busy: its later files go straight to the workers.
    busy: bool,
    /// Where the count of dirty data comes from (`/proc/meminfo`; a text of one's choice in tests).
    meminfo: fn() -> io::Result<String>,
    /// The ways taken, for tests.
    #[cfg(test)]
    taken: Vec<Way>,
    /// The volumes flushed by one `syncfs`, for tests.
    #[cfg(test)]
    synced: Vec<u64>,
}

impl Default for Flusher {
    fn default() -> Flusher {
        Flusher {
            queue: None,
            workers: Vec::new(),
            shared: Arc::default(),
            held: Vec::new(),
            busy: false,
            meminfo: quiet::read_meminfo,
            #[cfg(test)]
            taken: Vec::new(),
            #[cfg(test)]
            synced: Vec::new(),
        }
    }
}

impl Flusher {
    pub fn new() -> Flusher {
        Flusher::default()
    }

    /// Hands `file` (fully written) over to be flushed; `path` names it in an error.
    pub fn submit(&mut self, file: File, path: PathBuf) {
        self.shared.progress().submitted += 1;
        #[cfg(target_os = "linux")]
        if !self.busy {
            use std::os::unix::fs::MetadataExt;
            // A file that cannot be looked at is flushed on its own.
            if let Ok(meta) = file.metadata() {
                let (bytes, volume) = (meta.len(), meta.dev());
                self.held.push(Held {
                    file,
                    path,
                    bytes,
                    volume,
                });
                if self.held.len() >= HOLD {
                    self.decide();
                }
                return;
            }
        }
        self.hand_to_workers(file, path);
    }

    /// Flushes the held files the way the count of dirty data allows.
    fn decide(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let ours = self.held.iter().map(|h| h.bytes).sum();
        let way = quiet::choose((self.meminfo)().ok().as_deref(), ours);
        #[cfg(test)]
        self.taken.push(way);
        let mut held = std::mem::take(&mut self.held);
        if way == Way::Volume {
            held.sort_by_key(|h| h.volume);
            // Volumes whose syncfs is not trusted or failed: their files are flushed one by one.
            let mut fallback = Vec::new();
            for group in held.chunk_by(|a, b| a.volume == b.volume) {
                if sync_volume(&group[0].file) {
                    #[cfg(test)]
                    self.synced.push(group[0].volume);
                    finish_many(&self.shared, group.len() as u64);
                } else {
                    fallback.push(group[0].volume);
                }
            }
            held.retain(|h| fallback.contains(&h.volume));
        } else {
            self.busy = true;
        }
        for Held { file, path, .. } in held {
            self.hand_to_workers(file, path);
        }
    }

    /// Hands a file to the worker threads, starting them if needed.
    fn hand_to_workers(&mut self, file: File, path: PathBuf) {
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
        self.decide();
        self.busy = false;
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

/// One `syncfs` on the volume holding `file`, if that flushes it soundly; false when it is not
/// trusted there or failed.
fn sync_volume(file: &File) -> bool {
    #[cfg(target_os = "linux")]
    {
        quiet::syncfs_trusted(file) && rustix::fs::syncfs(file).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        false
    }
}

/// Counts `count` files flushed together.
fn finish_many(shared: &Shared, count: u64) {
    shared.progress().finished += count;
    shared.changed.notify_all();
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

    fn quiet_disk() -> io::Result<String> {
        Ok("Dirty:              2048 kB\nWriteback:             0 kB\n".into())
    }

    fn busy_disk() -> io::Result<String> {
        Ok("Dirty:           1500000 kB\nWriteback:        120000 kB\n".into())
    }

    #[cfg(target_os = "linux")]
    fn no_meminfo() -> io::Result<String> {
        Err(io::Error::from(io::ErrorKind::NotFound))
    }

    fn flusher(meminfo: fn() -> io::Result<String>) -> Flusher {
        let mut flusher = Flusher::default();
        flusher.meminfo = meminfo;
        flusher
    }

    fn submit_files(flusher: &mut Flusher, dir: &std::path::Path, from: usize, count: usize) {
        for i in from..from + count {
            let path = dir.join(format!("f{i}"));
            let mut file = File::create(&path).unwrap();
            file.write_all(&[b'x'; 4096]).unwrap();
            flusher.submit(file, path);
        }
    }

    fn counts(flusher: &Flusher) -> (u64, u64) {
        let progress = flusher.shared.progress();
        (progress.submitted, progress.finished)
    }

    #[test]
    fn nothing_submitted_nothing_to_wait_for() {
        let mut flusher = flusher(busy_disk);
        flusher.wait().unwrap();
        assert!(flusher.workers.is_empty());
        assert!(flusher.taken.is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_quiet_disk_is_flushed_by_volume_without_workers() {
        let dir = tempfile::tempdir().unwrap();
        let mut flusher = flusher(quiet_disk);
        submit_files(&mut flusher, dir.path(), 0, 200);
        // Held until the end of the batch: nothing flushed yet.
        assert_eq!(counts(&flusher), (200, 0));
        flusher.wait().unwrap();
        assert_eq!(counts(&flusher), (200, 200));
        assert_eq!(flusher.taken, [Way::Volume]);
        // Where syncfs is trusted (a local disk, a recent kernel) no file went to the workers;
        // elsewhere they did, and were flushed all the same.
        let trusted = quiet::syncfs_trusted(&File::open(dir.path()).unwrap());
        assert_eq!(flusher.workers.is_empty(), trusted);
    }

    // The choice is Linux's alone; elsewhere every file goes to the workers (the test below).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_busy_disk_gets_each_file_flushed_and_later_files_go_straight_to_the_workers() {
        let dir = tempfile::tempdir().unwrap();
        let mut flusher = flusher(busy_disk);
        // More than can be held: the decision comes early, and the files after it are not held.
        submit_files(&mut flusher, dir.path(), 0, HOLD + 20);
        assert!(flusher.held.is_empty());
        flusher.wait().unwrap();
        assert_eq!(counts(&flusher), (HOLD as u64 + 20, HOLD as u64 + 20));
        assert_eq!(flusher.taken, [Way::EachFile]);
        assert_eq!(flusher.workers.len(), WORKERS);
        // The next batch decides again.
        flusher.meminfo = quiet_disk;
        submit_files(&mut flusher, dir.path(), HOLD + 20, 3);
        assert_eq!(flusher.held.len(), 3);
        flusher.wait().unwrap();
        assert_eq!(flusher.taken, [Way::EachFile, Way::Volume]);
        assert_eq!(counts(&flusher), (HOLD as u64 + 23, HOLD as u64 + 23));
    }

    // The choice is Linux's alone; elsewhere every file goes to the workers (the test below).
    #[cfg(target_os = "linux")]
    #[test]
    fn no_count_of_dirty_data_means_each_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut flusher = flusher(no_meminfo);
        submit_files(&mut flusher, dir.path(), 0, 5);
        flusher.wait().unwrap();
        assert_eq!(counts(&flusher), (5, 5));
        assert_eq!(flusher.taken, [Way::EachFile]);
        assert_eq!(flusher.workers.len(), WORKERS);
    }

    #[cfg(not(target_os = "linux"))]
    #[test]
    fn off_linux_every_file_goes_to_the_workers_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut flusher = flusher(quiet_disk);
        submit_files(&mut flusher, dir.path(), 0, 5);
        assert_eq!(flusher.workers.len(), WORKERS);
        flusher.wait().unwrap();
        assert_eq!(counts(&flusher), (5, 5));
        assert!(flusher.taken.is_empty(), "no syncfs decision off Linux");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn files_on_several_volumes_are_all_covered() {
        // Files on this disk, on the shared-memory tmpfs and on the pipe file system (never
        // trusted with a syncfs): the first two are synced one volume each, the third volume's
        // files go to the workers, whose fdatasync fails on a pipe and names it.
        let dir = tempfile::tempdir().unwrap();
        let shm = tempfile::tempdir_in("/dev/shm").unwrap();
        let (reader, _writer) = std::io::pipe().unwrap();
        let mut flusher = flusher(quiet_disk);
        submit_files(&mut flusher, dir.path(), 0, 2);
        submit_files(&mut flusher, shm.path(), 2, 2);
        flusher.submit(
            File::from(std::os::fd::OwnedFd::from(reader)),
            PathBuf::from("the-pipe"),
        );
        assert_eq!(flusher.held.len(), 5);
        let (path, _err) = flusher.wait().unwrap_err();
        assert_eq!(path, PathBuf::from("the-pipe"));
        assert_eq!(counts(&flusher), (5, 5));
        assert_eq!(flusher.taken, [Way::Volume]);
        let mut expected = Vec::new();
        for folder in [dir.path(), shm.path()] {
            let probe = File::open(folder).unwrap();
            if quiet::syncfs_trusted(&probe) {
                use std::os::unix::fs::MetadataExt;
                expected.push(probe.metadata().unwrap().dev());
            }
        }
        expected.sort();
        assert_eq!(flusher.synced, expected);
        assert_eq!(flusher.workers.len(), WORKERS);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_flush_is_reported_with_the_name_once() {
        // fdatasync on a pipe fails with EINVAL: a file that cannot be made durable. Its volume
        // (the pipe file system) is never synced whole, quiet or busy.
        for meminfo in [quiet_disk, busy_disk] {
            let (reader, _writer) = std::io::pipe().unwrap();
            let pipe = File::from(std::os::fd::OwnedFd::from(reader));
            let dir = tempfile::tempdir().unwrap();
            let good = dir.path().join("good");
            let mut flusher = flusher(meminfo);
            flusher.submit(File::create(&good).unwrap(), good);
            flusher.submit(pipe, PathBuf::from("the-pipe"));
            let (path, _err) = flusher.wait().unwrap_err();
            assert_eq!(path, PathBuf::from("the-pipe"));
            flusher.wait().unwrap();
        }
    }
}
