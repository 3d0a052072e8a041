//! What commands print: a human text on stdout, or — with `--json` — exactly
//! one JSON document on stdout. Progress and notices go to stderr.
//!
//! JSON documents have one shape for every command:
//!
//! ```json
//! {"ok": true, "command": "verify", "result": {…}}
//! {"ok": false, "command": "import", "result": {…}, "error": {"message": "…", "hint": "…", "exit_code": 3}}
//! ```
//!
//! `result` is absent when the command failed before producing one.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::error::CliError;

/// The progress bar drawn last, which diagnostics clear before they print
/// (see [`Diagnostics`]).
static DRAWN: std::sync::Mutex<Option<indicatif::WeakProgressBar>> = std::sync::Mutex::new(None);

/// Where the library's diagnostics (`tracing` events) go: stderr, with the
/// progress bar being drawn (if any) cleared while a line is printed and
/// drawn again below it, so that the two never share a line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Diagnostics;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Diagnostics {
    type Writer = Diagnostics;

    fn make_writer(&'a self) -> Self::Writer {
        Diagnostics
    }
}

impl Write for Diagnostics {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = DRAWN
            .lock()
            .ok()
            .and_then(|drawn| drawn.as_ref().and_then(indicatif::WeakProgressBar::upgrade));
        let print = || std::io::stderr().lock().write_all(buf);
        match bar {
            Some(bar) => bar.suspend(print)?,
            None => print()?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// What a command produced: a JSON value and the same for people.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// The machine-readable result.
    pub value: serde_json::Value,
    /// The human-readable text (ends with a newline when not empty).
    pub text: String,
    /// A failure to report after the result (e.g. an import that skipped lines).
    pub error: Option<CliError>,
}

/// A command result that can be shown to people as text.
pub trait Render: Serialize {
    /// Writes the human-readable form.
    fn render(&self, out: &mut String);
}

impl CommandOutput {
    /// From a report.
    pub fn new<T: Render>(report: &T) -> Self {
        let mut text = String::new();
        report.render(&mut text);
        Self {
            value: serde_json::to_value(report).unwrap_or(serde_json::Value::Null),
            text,
            error: None,
        }
    }

    /// The same output, ending with an error (exit code) after printing.
    pub fn with_error(mut self, error: CliError) -> Self {
        self.error = Some(error);
        self
    }
}

/// Global output settings.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// `--json`: one JSON document on stdout, no progress bars.
    pub json: bool,
    /// Whether stderr is a terminal (progress bars are drawn only then).
    pub interactive: bool,
}

impl Output {
    /// Settings for this process.
    pub fn detect(json: bool) -> Self {
        Self {
            json,
            interactive: std::io::stderr().is_terminal(),
        }
    }

    /// Settings that never draw (tests, libraries).
    pub fn quiet(json: bool) -> Self {
        Self {
            json,
            interactive: false,
        }
    }

    /// A progress bar over `total` units (hidden with `--json` or without a terminal).
    pub fn progress(&self, total: u64, what: &str) -> ProgressBar {
        if self.json || !self.interactive {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {percent:>3}% {human_pos}/{human_len} ({eta})",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut drawn) = DRAWN.lock() {
            *drawn = Some(bar.downgrade());
        }
        bar
    }

    /// A progress bar over bytes.
    pub fn byte_progress(&self, total: u64, what: &str) -> ProgressBar {
        let bar = self.progress(total, what);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {percent:>3}% {binary_bytes}/{binary_total_bytes} ({eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    }

    /// A notice for people on stderr (suppressed with `--json`).
    pub fn notice(&self, text: &str) {
        if !self.json {
            eprintln!("{text}");
        }
    }

    /// Prints a command's outcome; returns the error to exit with, if any.
    pub fn emit(
        &self,
        command: &str,
        outcome: Result<CommandOutput, CliError>,
    ) -> Option<CliError> {
        let (result, error) = match outcome {
            Ok(output) => {
                if !self.json {
                    print_stdout(&output.text);
                }
                (Some(output.value), output.error)
            }
            Err(error) => (None, Some(error)),
        };
        if self.json {
            let mut doc = serde_json::Map::new();
            doc.insert("ok".into(), error.is_none().into());
            doc.insert("command".into(), command.into());
            if let Some(result) = result {
                doc.insert("result".into(), result);
            }
            if let Some(e) = &error {
                doc.insert(
                    "error".into(),
                    serde_json::json!({
                        "message": e.message,
                        "hint": e.hint,
                        "exit_code": e.kind.code(),
                    }),
                );
            }
            let text = serde_json::to_string_pretty(&serde_json::Value::Object(doc))
                .unwrap_or_else(|_| "{}".into());
            print_stdout(&format!("{text}\n"));
        }
        if let Some(e) = &error {
            eprintln!("{e}");
        }
        error
    }
}

/// Writes to stdout, ignoring a closed pipe (`clientele export | head`).
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// RFC 3339 in UTC, with as many fractional digits as needed (0, 3, 6).
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A compact timestamp for tables: `2024-05-01 10:00` (seconds when not zero).
pub fn short_time(t: DateTime<Utc>) -> String {
    if t.timestamp() % 60 == 0 && t.timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%d %H:%M").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    }
}

/// An integer that [`thousands`] and [`count`] can print.
pub trait Integer: Copy {
    /// The value, widened.
    fn wide(self) -> i128;
}

macro_rules! integer {
    ($($t:ty),*) => {$(
        impl Integer for $t {
            fn wide(self) -> i128 {
                self as i128
            }
        }
    )*};
}
integer!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// Groups thousands for people: 1234567 → `1,234,567`, -1000 → `-1,000`.
/// Human text only: CSV and JSON carry plain numbers.
pub fn thousands(n: impl Integer) -> String {
    let n = n.wide();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `noun` in the plural unless `n` is 1: `day`/`days`, `policy`/`policies`,
/// `purchase day`/`purchase days` (the last word takes the ending).
pub fn plural(n: impl Integer, noun: &str) -> String {
    if n.wide() == 1 {
        return noun.to_owned();
    }
    let consonant_y = noun.len() > 1
        && noun.ends_with('y')
        && !noun[..noun.len() - 1].ends_with(['a', 'e', 'i', 'o', 'u']);
    if consonant_y {
        format!("{}ies", &noun[..noun.len() - 1])
    } else if noun.ends_with(['s', 'x']) || noun.ends_with("ch") || noun.ends_with("sh") {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

/// A count for people, grouped, with its noun in the right number:
/// `count(1, "day")` → `1 day`, `count(2357, "customer")` → `2,357 customers`.
pub fn count(n: impl Integer, noun: &str) -> String {
    format!("{} {}", thousands(n), plural(n, noun))
}

/// Groups the integer part of a decimal text: `2398176.22` → `2,398,176.22`.
pub fn group_decimal(text: &str) -> String {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let grouped = match int.parse::<u64>() {
        Ok(n) => thousands(n),
        Err(_) => int.to_owned(),
    };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Character cells a text takes in a terminal or a label: East Asian wide
/// characters (CJK, Hangul, full-width forms) take two, so that Chinese
/// names line up in tables and get room in charts.
pub fn columns(text: &str) -> usize {
    text.chars()
        .map(|c| {
            let wide = matches!(c,
                '\u{1100}'..='\u{115F}'
                | '\u{2E80}'..='\u{303E}'
                | '\u{3041}'..='\u{33FF}'
                | '\u{3400}'..='\u{4DBF}'
                | '\u{4E00}'..='\u{9FFF}'
                | '\u{A000}'..='\u{A4CF}'
                | '\u{AC00}'..='\u{D7A3}'
                | '\u{F900}'..='\u{FAFF}'
                | '\u{FE30}'..='\u{FE4F}'
                | '\u{FF00}'..='\u{FF60}'
                | '\u{FFE0}'..='\u{FFE6}');
            1 + usize::from(wide)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_numbers_and_times() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(-1234_i64), "-1,234");
        assert_eq!(thousands(2014_usize), "2,014");
        assert_eq!(count(1_u32, "day"), "1 day");
        assert_eq!(count(0_u32, "day"), "0 days");
        assert_eq!(count(2357_u64, "customer"), "2,357 customers");
        assert_eq!(count(33_usize, "policy"), "33 policies");
        assert_eq!(count(2_u8, "purchase day"), "2 purchase days");
        assert_eq!(count(3_i64, "day"), "3 days");
        assert_eq!(plural(2_u8, "delay"), "delays");
        assert_eq!(plural(2_u8, "box"), "boxes");
        assert_eq!(group_decimal("2398176.22"), "2,398,176.22");
        assert_eq!(group_decimal("-1000"), "-1,000");
        assert_eq!(group_decimal("0.10"), "0.10");
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap();
        assert_eq!(timestamp(t), "2024-05-01T10:00:00Z");
        assert_eq!(short_time(t), "2024-05-01 10:00");
    }
}
