//! How the demo tells its story: numbered steps, indented lines, and a progress line for
//! waits (redrawn in place on a terminal, printed once when done elsewhere).

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Narrator {
    out: Box<dyn Write + Send>,
    terminal: bool,
    step: u32,
    started: Instant,
    /// Everything said, for the test that runs the demo's scenario.
    pub transcript: String,
}

impl Narrator {
    /// Tells the story on standard output.
    pub fn stdout() -> Narrator {
        let terminal = std::io::stdout().is_terminal();
        Narrator::to(Box::new(std::io::stdout()), terminal)
    }

    /// Tells it to any writer (the test keeps only the transcript).
    pub fn to(out: Box<dyn Write + Send>, terminal: bool) -> Narrator {
        Narrator { out, terminal, step: 0, started: Instant::now(), transcript: String::new() }
    }

    fn write(&mut self, text: &str) {
        self.transcript.push_str(text);
        // The story is best effort: a closed pipe must not stop the demo half-way.
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }

    pub fn step(&mut self, title: &str) {
        self.step += 1;
        let text = format!("\n{}. {title}\n", self.step);
        self.write(&text);
    }

    pub fn line(&mut self, text: &str) {
        self.write(&format!("   {text}\n"));
    }

    /// Redraws the progress of a wait: `done` of `total` after `what`.
    pub fn progress(&mut self, what: &str, done: usize, total: usize) {
        if !self.terminal {
            return;
        }
        let width = 24;
        let filled = (done * width).checked_div(total).unwrap_or(width);
        let bar = format!("{}{}", "#".repeat(filled), ".".repeat(width - filled));
        let _ = write!(self.out, "\r   [{bar}] {done}/{total} {what}   ");
        let _ = self.out.flush();
    }

    /// Ends a progress line with its outcome.
    pub fn progress_done(&mut self, text: &str) {
        if self.terminal {
            let _ = write!(self.out, "\r{}\r", " ".repeat(72));
        }
        self.line(text);
    }

    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}
