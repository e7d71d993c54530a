//! The scripts running now, for BUSY, SCRIPT KILL, FUNCTION KILL and
//! FUNCTION STATS.
//!
//! Scripts run in parallel on disjoint keys, so unlike Redis there may be
//! several. A script that has run longer than `busy-reply-threshold` is
//! busy: commands that need its keys get BUSY instead of waiting, and
//! SCRIPT KILL (or FUNCTION KILL) may stop it if it has not written.

use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    /// EVAL and EVALSHA (and their _RO forms).
    Eval,
    /// FCALL and FCALL_RO.
    Function,
}

/// One script in progress.
pub struct RunningScript {
    pub kind: RunKind,
    /// The script's SHA1 or the function's name.
    pub name: String,
    /// The command that runs it (FUNCTION STATS).
    pub command: Vec<Bytes>,
    pub started: Instant,
    /// The lock stripes it holds, sorted; `all` when it holds them all.
    stripes: Vec<usize>,
    all: bool,
    busy: AtomicBool,
    killed: AtomicBool,
    wrote: AtomicBool,
    busy_count: Arc<AtomicUsize>,
    /// `busy-reply-threshold` in ms, as it is now (0: never busy).
    threshold_ms: Arc<AtomicU64>,
}

impl RunningScript {
    pub fn killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }

    /// The error a killed script's caller gets (the same for functions,
    /// as in Redis).
    pub fn kill_message(&self) -> &'static str {
        "ERR Script killed by user with SCRIPT KILL..."
    }

    /// Marks the script busy once it has run past the threshold.
    pub fn check_busy(&self) {
        let threshold = self.threshold_ms.load(Ordering::Relaxed);
        if threshold == 0
            || self.busy.load(Ordering::Relaxed)
            || self.started.elapsed().as_millis() < u128::from(threshold)
        {
            return;
        }
        if !self.busy.swap(true, Ordering::SeqCst) {
            self.busy_count.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Records that the script called a write command (it can no longer
    /// be killed, as in Redis).
    pub fn mark_wrote(&self) {
        self.wrote.store(true, Ordering::Relaxed);
    }

    fn holds(&self, stripes: &[usize], all: bool) -> bool {
        self.all
            || all
            || stripes
                .iter()
                .any(|s| self.stripes.binary_search(s).is_ok())
    }
}

/// Removes its script from the registry when the run ends.
pub struct RunGuard<'a> {
    running: &'a Running,
    pub script: Arc<RunningScript>,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        let mut scripts = self.running.scripts.lock();
        scripts.retain(|s| !Arc::ptr_eq(s, &self.script));
        if self.script.busy.load(Ordering::SeqCst) {
            self.running.busy_count.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

pub struct Running {
    scripts: Mutex<Vec<Arc<RunningScript>>>,
    busy_count: Arc<AtomicUsize>,
    threshold_ms: Arc<AtomicU64>,
    /// Set at shutdown: scripts are stopped as they start.
    stopping: AtomicBool,
}

/// The BUSY replies, as Redis words them for each kind of script.
pub fn busy_error(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Eval => {
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
        }
        RunKind::Function => {
            "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
        }
    }
}

impl Default for Running {
    fn default() -> Running {
        Running {
            scripts: Mutex::default(),
            busy_count: Arc::default(),
            threshold_ms: Arc::new(AtomicU64::new(5000)),
            stopping: AtomicBool::new(false),
        }
    }
}

impl Running {
    /// `busy-reply-threshold` (ms), at startup and on CONFIG SET; running
    /// scripts follow the change.
    pub fn set_threshold(&self, ms: u64) {
        self.threshold_ms.store(ms, Ordering::Relaxed);
    }

    /// Registers a script about to run, holding `stripes` (or every stripe).
    pub fn start(
        &self,
        kind: RunKind,
        name: String,
        command: Vec<Bytes>,
        mut stripes: Vec<usize>,
        all: bool,
    ) -> RunGuard<'_> {
        stripes.sort_unstable();
        stripes.dedup();
        let script = Arc::new(RunningScript {
            kind,
            name,
            command,
            started: Instant::now(),
            stripes,
            all,
            busy: AtomicBool::new(false),
            killed: AtomicBool::new(self.stopping.load(Ordering::SeqCst)),
            wrote: AtomicBool::new(false),
            busy_count: self.busy_count.clone(),
            threshold_ms: self.threshold_ms.clone(),
        });
        self.scripts.lock().push(script.clone());
        RunGuard {
            running: self,
            script,
        }
    }

    /// Whether some script is busy (a cheap check before
    /// [`Running::busy_holding`]).
    pub fn any_busy(&self) -> bool {
        self.busy_count.load(Ordering::SeqCst) > 0
    }

    /// The kind of a busy script holding one of `stripes` (any stripe when
    /// `all`): a command that needs them gets BUSY.
    pub fn busy_holding(&self, stripes: &[usize], all: bool) -> Option<RunKind> {
        if !self.any_busy() {
            return None;
        }
        self.scripts
            .lock()
            .iter()
            .find(|s| s.busy.load(Ordering::SeqCst) && s.holds(stripes, all))
            .map(|s| s.kind)
    }

    /// SCRIPT KILL / FUNCTION KILL: stops the busy scripts of `kind`; the
    /// error is Redis's reply when there is none or it cannot be stopped.
    pub fn kill(&self, kind: RunKind) -> Result<(), &'static str> {
        let scripts = self.scripts.lock();
        let busy: Vec<_> = scripts
            .iter()
            .filter(|s| s.busy.load(Ordering::SeqCst) && !s.killed())
            .collect();
        if busy.is_empty() {
            return Err("NOTBUSY No scripts in execution right now.");
        }
        if busy.iter().any(|s| s.wrote.load(Ordering::Relaxed)) {
            return Err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
        }
        if let Some(other) = busy.iter().find(|s| s.kind != kind) {
            return Err(busy_error(other.kind));
        }
        for script in busy {
            script.killed.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Stops every running script and every one that starts after
    /// (shutdown): they end with the kill error and nothing they wrote.
    pub fn stop_all(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for script in self.scripts.lock().iter() {
            script.killed.store(true, Ordering::SeqCst);
        }
    }

    /// The running function that has run longest (FUNCTION STATS).
    pub fn oldest_function(&self) -> Option<Arc<RunningScript>> {
        self.scripts
            .lock()
            .iter()
            .filter(|s| s.kind == RunKind::Function)
            .min_by_key(|s| s.started)
            .cloned()
    }
}
