//! The bench's output: each part's detailed tables as it goes, then one
//! table of headline figures next to their targets, all of it also saved
//! (with the machine and the command) to `target/bench/report.md`, in
//! markdown so it pastes into `docs/benchmarks.md`.

use super::env::{self, Env};
use anyhow::Result;

/// Where a figure stands against its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Missed,
    /// A figure with no target: a comparison, or context for another.
    Info,
    /// The part could not measure it.
    Failed,
    /// Not measured: what it needs is missing (e.g. `sockrec query`).
    Skipped,
}

impl Status {
    fn text(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Missed => "MISSED",
            Status::Info => "",
            Status::Failed => "FAILED",
            Status::Skipped => "SKIPPED",
        }
    }

    /// `value ≤ max` (a NaN value, from no measurement, fails).
    pub fn at_most(value: f64, max: f64) -> Status {
        if value <= max {
            Status::Ok
        } else {
            Status::Missed
        }
    }
}

struct Row {
    part: String,
    what: String,
    value: String,
    target: String,
    status: Status,
}

pub struct Report {
    text: String,
    rows: Vec<Row>,
    part: String,
}

impl Report {
    pub fn new(env: &Env, args: &[&str]) -> Report {
        let mut r = Report {
            text: String::new(),
            rows: Vec::new(),
            part: String::new(),
        };
        let command = format!("cargo xtask bench {}", args.join(" "));
        r.say(format!("# sockrec benchmarks: `{}`", command.trim_end()));
        r.say(String::new());
        r.say(format!("sockrec binary: {}", env.sockrec.display()));
        for (k, v) in env::machine() {
            r.say(format!("- {k}: {v}"));
        }
        r
    }

    /// Starts a part's output.
    pub fn section(&mut self, part: &str) {
        self.part = part.to_string();
        self.say(String::new());
        self.say(format!("## {part}"));
        self.say(String::new());
    }

    /// A line of output, printed now and kept for the saved report.
    pub fn say(&mut self, line: impl Into<String>) {
        let line = line.into();
        println!("{line}");
        self.text.push_str(&line);
        self.text.push('\n');
    }

    /// A markdown table.
    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        self.say(format!("| {} |", header.join(" | ")));
        self.say(format!(
            "|{}",
            header.iter().map(|_| "---|").collect::<String>()
        ));
        for r in rows {
            self.say(format!("| {} |", r.join(" | ")));
        }
        self.say(String::new());
    }

    /// A headline figure for the final table.
    pub fn figure(
        &mut self,
        what: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        status: Status,
    ) {
        self.rows.push(Row {
            part: self.part.clone(),
            what: what.into(),
            value: value.into(),
            target: target.into(),
            status,
        });
    }

    /// A part that could not run.
    pub fn failed(&mut self, part: &str, why: String) {
        self.rows.push(Row {
            part: part.to_string(),
            what: "(part failed)".into(),
            value: why.replace('\n', " "),
            target: String::new(),
            status: Status::Failed,
        });
    }

    /// The final table, and the saved report.
    pub fn finish(mut self, env: &Env) -> Result<()> {
        self.section("summary");
        let rows: Vec<Vec<String>> = std::mem::take(&mut self.rows)
            .into_iter()
            .map(|r| vec![r.part, r.what, r.value, r.target, r.status.text().into()])
            .collect();
        self.table(&["part", "figure", "value", "target", "status"], &rows);
        let path = env.scratch("report.md");
        std::fs::write(&path, &self.text)?;
        eprintln!("bench: report saved to {}", path.display());
        Ok(())
    }
}

/// `1234567` → `1.23 M`, for event counts and rates.
pub fn si(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2} G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// The median of some figures (the mean of the middle two for an even
/// count); NaN for none.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_none() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
