//! Bounds on the `ffmpeg`/`ffprobe` children: every child runs under the deadline in force on
//! the thread that starts it (set with [`Deadline::scope`] around a piece of video work), and
//! a watchdog kills it when that deadline passes or the work is cancelled (the client went
//! away). A killed child's output ends early; its reader or writer then reports the deadline,
//! never a short video as a whole one.

use std::cell::RefCell;
use std::process::{Child, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::VideoError;

/// How often a watchdog looks at its deadline.
const WATCH_EVERY: Duration = Duration::from_millis(50);

/// When a piece of video work must stop, and a flag its requester lowers to cancel it.
#[derive(Debug, Clone)]
pub struct Deadline {
    at: Instant,
    cancelled: Arc<AtomicBool>,
    /// The flag of the deadline this one was made within (`child`): cancelling that one
    /// cancels this one too, never the other way round.
    parent_cancelled: Option<Arc<AtomicBool>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Deadline>> = const { RefCell::new(None) };
}

impl Deadline {
    pub fn after(limit: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + limit,
            cancelled: Arc::new(AtomicBool::new(false)),
            parent_cancelled: None,
        }
    }

    /// A deadline at the same time as this one, stopped when this one is cancelled, and
    /// which can be cancelled alone: for a part of the work that must stop when the rest
    /// fails.
    pub fn child(&self) -> Deadline {
        Deadline {
            at: self.at,
            cancelled: Arc::new(AtomicBool::new(false)),
            parent_cancelled: Some(Arc::clone(&self.cancelled)),
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
            || self.parent_cancelled.as_ref().is_some_and(|p| p.load(Ordering::SeqCst))
    }

    /// Stops the work at its next check, and kills its children.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    pub fn passed(&self) -> bool {
        self.is_cancelled() || Instant::now() >= self.at
    }

    /// The error for work stopped by this deadline.
    pub fn error(&self) -> VideoError {
        if self.is_cancelled() {
            VideoError::Cancelled
        } else {
            VideoError::TimedOut
        }
    }

    /// Runs `work` with this deadline over every child it starts on this thread.
    pub fn scope<T>(&self, work: impl FnOnce() -> T) -> T {
        let previous = CURRENT.with(|c| c.replace(Some(self.clone())));
        let result = work();
        CURRENT.with(|c| *c.borrow_mut() = previous);
        result
    }

    /// The deadline in force on this thread, if any.
    pub fn current() -> Option<Deadline> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// `Err` once the deadline in force has passed: for loops that do work between reads.
    pub fn check_current() -> Result<(), VideoError> {
        match Deadline::current() {
            Some(deadline) if deadline.passed() => Err(deadline.error()),
            _ => Ok(()),
        }
    }
}

/// A child under the deadline in force when it started: killed by a watchdog thread when the
/// deadline passes, and always when dropped.
pub struct Watched {
    child: Arc<Mutex<Child>>,
    deadline: Option<Deadline>,
    killed: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

impl Watched {
    pub fn new(child: Child) -> Watched {
        let child = Arc::new(Mutex::new(child));
        let (killed, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let deadline = Deadline::current();
        if let Some(deadline) = deadline.clone() {
            let (child, killed, done) = (child.clone(), killed.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    if deadline.passed() {
                        killed.store(true, Ordering::SeqCst);
                        let _ = lock(&child).kill();
                        return;
                    }
                    std::thread::sleep(WATCH_EVERY);
                }
            });
        }
        Watched { child, deadline, killed, done }
    }

    /// The deadline's error if the watchdog killed the child.
    pub fn stopped(&self) -> Option<VideoError> {
        self.killed
            .load(Ordering::SeqCst)
            .then(|| self.deadline.as_ref().map_or(VideoError::TimedOut, Deadline::error))
    }

    /// Waits for the child to end.
    pub fn wait(&self) -> std::io::Result<std::process::ExitStatus> {
        // Polled, so the watchdog can take the lock to kill meanwhile.
        loop {
            if let Some(status) = lock(&self.child).try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn kill(&self) {
        let _ = lock(&self.child).kill();
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        let mut child = lock(&self.child);
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn lock(child: &Mutex<Child>) -> std::sync::MutexGuard<'_, Child> {
    child.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs a command to its end under `limit` (and the deadline in force, if sooner), reading
/// its standard output whole.
pub fn output_within(command: &mut std::process::Command, limit: Duration) -> Result<Output, VideoError> {
    use std::io::Read;
    let own = Deadline::after(limit);
    let deadline = match Deadline::current() {
        Some(outer) if outer.at < own.at => outer,
        _ => own,
    };
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| VideoError::Tool(e.to_string()))?;
    let mut stdout = child.stdout.take().ok_or_else(|| VideoError::Tool("no stdout".into()))?;
    let watched = deadline.scope(|| Watched::new(child));
    let mut bytes = Vec::new();
    stdout.read_to_end(&mut bytes)?;
    let status = watched.wait()?;
    if let Some(stopped) = watched.stopped() {
        return Err(stopped);
    }
    Ok(Output { status, stdout: bytes, stderr: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_past_its_deadline_is_killed_and_reported() {
        let started = Instant::now();
        let ran = output_within(std::process::Command::new("sleep").arg("30"), Duration::from_millis(300));
        assert!(matches!(ran, Err(VideoError::TimedOut)), "{ran:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let done =
            output_within(std::process::Command::new("echo").arg("hi"), Duration::from_secs(5)).unwrap();
        assert_eq!(done.stdout, b"hi\n");
    }

    #[test]
    fn cancelling_kills_the_children_of_the_work() {
        let deadline = Deadline::after(Duration::from_secs(60));
        let cancel = deadline.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            cancel.cancel();
        });
        let started = Instant::now();
        let ran = deadline
            .scope(|| output_within(std::process::Command::new("sleep").arg("30"), Duration::from_secs(60)));
        assert!(matches!(ran, Err(VideoError::Cancelled)), "{ran:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_child_is_cancelled_alone_or_with_its_parent() {
        let parent = Deadline::after(Duration::from_secs(60));
        let alone = parent.child();
        let started = Instant::now();
        let cancel = alone.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            cancel.cancel();
        });
        let ran = alone
            .scope(|| output_within(std::process::Command::new("sleep").arg("30"), Duration::from_secs(60)));
        assert!(matches!(ran, Err(VideoError::Cancelled)), "{ran:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!parent.passed(), "cancelling a child cancels its parent");
        let with_parent = parent.child();
        parent.cancel();
        assert!(with_parent.passed());
        assert!(matches!(with_parent.error(), VideoError::Cancelled));
    }
}
