//! Flushing finished files to disk on a thread of their own.
//!
//! A local destination publishes a run's files by renaming them, and a file
//! must be on disk before its name appears. Syncing them all at publish time
//! kept one core waiting for the disk after decoding had ended (0.19-0.33 s
//! of a 6-8 s run on the 2 GiB bench bucket); syncing in the encoding jobs
//! blocked the CPU pool instead (0.46 s in all on the same run). Here a
//! thread that uses no CPU syncs each file as soon as it is written, while
//! decoding and encoding go on.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};

/// Syncs files handed to it, in order, on its own thread.
///
/// ```no_run
/// # fn main() -> anyhow::Result<()> {
/// # use trail_etl::syncer::Syncer;
/// let syncer = Syncer::new(true);
/// syncer.sender().sync("/tmp/part-0.parquet".into());
/// syncer.finish()?; // every file handed over is on disk, or the first error
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Syncer {
    tx: Option<mpsc::Sender<PathBuf>>,
    thread: Option<JoinHandle<Result<()>>>,
}

/// Hands files to a [`Syncer`]; cheap to clone into jobs.
#[derive(Debug, Clone)]
pub struct SyncSender(Option<mpsc::Sender<PathBuf>>);

impl SyncSender {
    /// Queue `path` to be synced (nothing when syncing is off). A path
    /// queued after a failure is dropped: [`Syncer::finish`] reports that failure.
    pub fn sync(&self, path: PathBuf) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(path);
        }
    }
}

impl Syncer {
    /// A syncer; `enabled: false` makes every call a no-op (a destination
    /// that uploads gains nothing from local files on disk).
    pub fn new(enabled: bool) -> Self {
        if !enabled {
            return Syncer {
                tx: None,
                thread: None,
            };
        }
        let (tx, rx) = mpsc::channel::<PathBuf>();
        let thread = std::thread::spawn(move || -> Result<()> {
            for path in rx {
                std::fs::File::open(&path)
                    .and_then(|f| f.sync_all())
                    .with_context(|| format!("syncing {}", path.display()))?;
            }
            Ok(())
        });
        Syncer {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// A handle for jobs to queue files with.
    pub fn sender(&self) -> SyncSender {
        SyncSender(self.tx.clone())
    }

    /// Wait until every queued file is synced (all senders must be gone or
    /// idle); the first failure, if any.
    pub fn finish(mut self) -> Result<()> {
        drop(self.tx.take());
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| anyhow::anyhow!("the syncing thread panicked"))?,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_what_it_is_given_and_reports_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.parquet");
        std::fs::write(&file, b"PAR1").unwrap();
        let syncer = Syncer::new(true);
        syncer.sender().sync(file.clone());
        syncer.finish().unwrap();

        let syncer = Syncer::new(true);
        let missing = dir.path().join("missing.parquet");
        syncer.sender().sync(missing);
        let err = syncer.finish().unwrap_err();
        assert!(format!("{err:#}").contains("missing.parquet"), "{err:#}");
    }

    #[test]
    fn disabled_does_nothing() {
        let syncer = Syncer::new(false);
        syncer.sender().sync("/nonexistent/x.parquet".into());
        syncer.finish().unwrap();
    }
}
