//! A progress bar on stderr (objects, bytes, records, rate), only when asked
//! for and stderr is a terminal.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Cheap to clone; does nothing when disabled.
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    records: Arc<AtomicU64>,
    objects_done: Arc<AtomicU64>,
    objects: u64,
}

impl Progress {
    /// A bar over `objects` objects and `bytes` bytes, shown when `enabled`
    /// and stderr is a terminal.
    pub fn new(enabled: bool, objects: u64, bytes: u64) -> Progress {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(format!("0/{objects} objects"));
            bar
        });
        Progress {
            bar,
            records: Arc::new(AtomicU64::new(0)),
            objects_done: Arc::new(AtomicU64::new(0)),
            objects,
        }
    }

    /// One object done.
    pub fn object(&self, bytes: u64, records: u64) {
        let total = self.records.fetch_add(records, Ordering::Relaxed) + records;
        let done = self.objects_done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
            bar.set_message(format!("{done}/{} objects, {total} records", self.objects));
        }
    }

    /// Remove the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
