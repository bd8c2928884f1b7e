//! What a command tells the person (or script) running it: human lines and progress bars on
//! stderr, or one JSON object per event (`--json`), or nothing but errors (`--quiet`).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Human,
    Json,
    Quiet,
}

pub struct Report {
    mode: Mode,
    /// JSON events go to stderr when stdout carries a file.
    json_to_stderr: bool,
    bars: MultiProgress,
    running: HashMap<String, ProgressBar>,
}

impl Report {
    pub fn new(mode: Mode, stdout_is_data: bool) -> Self {
        let target = if mode == Mode::Human {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            mode,
            json_to_stderr: stdout_is_data,
            bars: MultiProgress::with_draw_target(target),
            running: HashMap::new(),
        }
    }

    /// A line on stderr, above the bars when they are drawn (indicatif draws nothing, and
    /// prints nothing, when stderr is not a terminal).
    fn line(&self, text: String) {
        if self.bars.is_hidden() {
            eprintln!("{text}");
        } else {
            let _ = self.bars.println(text);
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn emit_json(&self, v: Value) {
        let line = format!("{v}\n");
        if self.json_to_stderr {
            let _ = std::io::stderr().write_all(line.as_bytes());
        } else {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }

    /// A line for people; in JSON, `event` with `fields`.
    pub fn say(&self, event: &str, fields: Value, text: impl FnOnce() -> String) {
        match self.mode {
            Mode::Human => self.line(text()),
            Mode::Json => {
                let mut v = fields;
                if let Value::Object(m) = &mut v {
                    m.insert("event".into(), json!(event));
                }
                self.emit_json(v);
            }
            Mode::Quiet => {}
        }
    }

    /// A chat line: always on stdout for people (it is the conversation), JSON in JSON mode.
    /// A chat line; `private`: a direct message between us and one peer.
    pub fn chat(&self, from: &str, text: &str, mine: bool, private: bool) {
        match self.mode {
            Mode::Json => self.emit_json(
                json!({"event": "chat", "from": from, "text": text, "mine": mine, "private": private}),
            ),
            _ if mine => {}
            _ => {
                let mut out = std::io::stdout().lock();
                let tag = if private { " (privately)" } else { "" };
                let _ = writeln!(out, "{from}{tag}: {text}");
                let _ = out.flush();
            }
        }
    }

    /// A transfer started: a bar with speed and time left.
    pub fn start(&mut self, key: String, label: &str, total: Option<u64>) {
        if self.mode != Mode::Human {
            return;
        }
        let bar = match total {
            Some(t) => ProgressBar::new(t),
            None => ProgressBar::no_length(),
        };
        let style = ProgressStyle::with_template(
            "{msg:30!} {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(label.to_owned());
        let bar = self.bars.add(bar);
        self.running.insert(key, bar);
    }

    pub fn progress(&self, key: &str, bytes: u64) {
        if let Some(b) = self.running.get(key) {
            b.set_position(bytes);
        }
    }

    pub fn end(&mut self, key: &str) {
        if let Some(b) = self.running.remove(key) {
            b.finish_and_clear();
        }
    }

    pub fn error(&self, text: &str) {
        match self.mode {
            Mode::Json => self.emit_json(json!({"event": "error", "message": text})),
            _ => self.line(format!("hush: {text}")),
        }
    }
}
