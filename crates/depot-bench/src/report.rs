//! Results, the printed table and its JSON twin.

use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Depot,
    Reprepro,
    Aptly,
}

pub const TOOLS: [Tool; 3] = [Tool::Depot, Tool::Reprepro, Tool::Aptly];

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Depot => "depot",
            Tool::Reprepro => "reprepro",
            Tool::Aptly => "aptly",
        }
    }
    pub fn idx(self) -> usize {
        self as usize
    }
}

/// One measured value, or why there is none.
#[derive(Debug, Clone, Default)]
pub enum Cell {
    Val(f64),
    #[default]
    Skipped,
    Failed(String),
}

impl Cell {
    pub fn val(&self) -> Option<f64> {
        match self {
            Cell::Val(v) => Some(*v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Unit {
    Secs,
    Millis,
    MiB,
}

impl Unit {
    fn label(self) -> &'static str {
        match self {
            Unit::Secs => "s",
            Unit::Millis => "ms",
            Unit::MiB => "MiB",
        }
    }
    fn fmt(self, v: f64) -> String {
        match self {
            Unit::Secs => format!("{v:.2}"),
            Unit::Millis if v < 10.0 => format!("{v:.2}"),
            Unit::Millis => format!("{v:.1}"),
            Unit::MiB => format!("{v:.1}"),
        }
    }
}

/// The three tools of one table: depot, then the two peers it is compared with.
#[derive(Debug, Clone, Copy)]
pub struct Columns {
    /// Column headers.
    pub names: [&'static str; 3],
    /// Keys in the JSON rows and samples.
    pub keys: [&'static str; 3],
    /// What a client reads to see a new package, for the "one more" rows.
    pub index: &'static str,
}

/// P1: apt.
pub const APT: Columns = Columns {
    names: ["depot", "reprepro", "aptly"],
    keys: ["depot", "reprepro", "aptly"],
    index: "signed InRelease",
};

/// P2: rpm.
pub const RPM: Columns = Columns {
    names: [
        "depot",
        "createrepo_c --no-database",
        "createrepo_c (sqlite)",
    ],
    keys: ["depot", "createrepo_c_no_database", "createrepo_c_sqlite"],
    index: "repomd.xml",
};

/// P4: pacman.
pub const PACMAN: Columns = Columns {
    names: ["depot", "repo-add", "repo-add --sign"],
    keys: ["depot", "repo_add", "repo_add_sign"],
    index: "the db",
};

/// Everything measured for one corpus size, per tool in the order of its [`Columns`].
#[derive(Debug, Default)]
pub struct SizeResult {
    pub n: usize,
    /// Full publish in seconds; depot through REST.
    pub full_secs: [Cell; 3],
    /// `depot add` in local mode, seconds.
    pub cli_full_secs: Cell,
    /// `depot rebuild` of the `depot add` data directory (re-reading every
    /// stored package), seconds; `Skipped` where not measured.
    pub rebuild_secs: Cell,
    /// One-more samples in seconds, per tool.
    pub one_secs: [Vec<f64>; 3],
    pub one_failed: [Option<String>; 3],
    pub rss_full_kib: [Cell; 3],
    pub rss_cli_kib: Cell,
    pub rss_one_kib: [Cell; 3],
    pub notes: Vec<String>,
}

pub struct Row {
    pub n: usize,
    pub metric: String,
    pub unit: Unit,
    pub cells: [Cell; 3],
}

impl Row {
    /// depot / the smallest peer value.
    pub fn ratio(&self) -> Option<f64> {
        let depot = self.cells[0].val()?;
        let fastest = self.cells[1..]
            .iter()
            .filter_map(Cell::val)
            .fold(f64::INFINITY, f64::min);
        (fastest.is_finite() && fastest > 0.0).then(|| depot / fastest)
    }
}

pub fn median(samples: &[f64]) -> Option<f64> {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(s[n / 2]),
        _ => Some((s[n / 2 - 1] + s[n / 2]) / 2.0),
    }
}

/// Nearest-rank percentile.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    Some(s[rank.min(s.len()) - 1])
}

fn kib_to_mib(c: &Cell) -> Cell {
    match c {
        Cell::Val(v) => Cell::Val(v / 1024.0),
        other => other.clone(),
    }
}

fn stat_cells(r: &SizeResult, f: impl Fn(&[f64]) -> Option<f64>) -> [Cell; 3] {
    std::array::from_fn(|i| {
        if let Some(e) = &r.one_failed[i]
            && r.one_secs[i].is_empty()
        {
            return Cell::Failed(e.clone());
        }
        match f(&r.one_secs[i]) {
            Some(v) => Cell::Val(v * 1000.0),
            None => Cell::Skipped,
        }
    })
}

pub fn rows(results: &[SizeResult], clients: usize, cols: &Columns) -> Vec<Row> {
    let mut rows = Vec::new();
    for r in results {
        let n = r.n;
        rows.push(Row {
            n,
            metric: format!("full publish, depot via REST ({clients} clients)"),
            unit: Unit::Secs,
            cells: r.full_secs.clone(),
        });
        if !matches!(r.cli_full_secs, Cell::Skipped) {
            rows.push(Row {
                n,
                metric: "full publish, depot via `depot add` CLI".into(),
                unit: Unit::Secs,
                cells: [
                    r.cli_full_secs.clone(),
                    r.full_secs[1].clone(),
                    r.full_secs[2].clone(),
                ],
            });
        }
        if !matches!(r.rebuild_secs, Cell::Skipped) {
            rows.push(Row {
                n,
                metric: "full rebuild, `depot rebuild` (re-read all stored)".into(),
                unit: Unit::Secs,
                cells: [
                    r.rebuild_secs.clone(),
                    r.full_secs[1].clone(),
                    r.full_secs[2].clone(),
                ],
            });
        }
        rows.push(Row {
            n,
            metric: format!("one more until {} lists it, median", cols.index),
            unit: Unit::Millis,
            cells: stat_cells(r, median),
        });
        rows.push(Row {
            n,
            metric: format!("one more until {} lists it, p90", cols.index),
            unit: Unit::Millis,
            cells: stat_cells(r, |s| percentile(s, 90.0)),
        });
        rows.push(Row {
            n,
            metric: "peak RSS, full publish (depot: server)".into(),
            unit: Unit::MiB,
            cells: std::array::from_fn(|i| kib_to_mib(&r.rss_full_kib[i])),
        });
        if !matches!(r.rss_cli_kib, Cell::Skipped) {
            rows.push(Row {
                n,
                metric: "peak RSS, full publish (depot: `depot add`)".into(),
                unit: Unit::MiB,
                cells: [
                    kib_to_mib(&r.rss_cli_kib),
                    kib_to_mib(&r.rss_full_kib[1]),
                    kib_to_mib(&r.rss_full_kib[2]),
                ],
            });
        }
        rows.push(Row {
            n,
            metric: "peak RSS, one-more runs (depot: server)".into(),
            unit: Unit::MiB,
            cells: std::array::from_fn(|i| kib_to_mib(&r.rss_one_kib[i])),
        });
    }
    rows
}

fn cell_text(c: &Cell, unit: Unit) -> String {
    match c {
        Cell::Val(v) => unit.fmt(*v),
        Cell::Skipped => "-".into(),
        Cell::Failed(_) => "FAILED".into(),
    }
}

fn ratio_text(r: Option<f64>) -> String {
    match r {
        None => "-".into(),
        Some(r) if r > 0.0 && r < 1.0 => format!("{r:.3} ({:.1}x less)", 1.0 / r),
        Some(r) => format!("{r:.2} ({r:.1}x more)"),
    }
}

pub fn table(rows: &[Row], cols: &Columns) -> String {
    let header = [
        "N".to_string(),
        "metric".into(),
        "unit".into(),
        cols.names[0].into(),
        cols.names[1].into(),
        cols.names[2].into(),
        "depot/fastest peer".into(),
    ];
    let mut lines: Vec<[String; 7]> = vec![header];
    for r in rows {
        lines.push([
            r.n.to_string(),
            r.metric.clone(),
            r.unit.label().into(),
            cell_text(&r.cells[0], r.unit),
            cell_text(&r.cells[1], r.unit),
            cell_text(&r.cells[2], r.unit),
            ratio_text(r.ratio()),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let cols: Vec<String> = l
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if c >= 3 {
                    format!("{s:>w$}", w = widths[c])
                } else {
                    format!("{s:<w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(&format!("| {} |\n", cols.join(" | ")));
        if i == 0 {
            let seps: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(c, w)| {
                    if c >= 3 {
                        format!("{}:", "-".repeat(w.saturating_sub(1).max(1)))
                    } else {
                        "-".repeat(*w)
                    }
                })
                .collect();
            out.push_str(&format!("| {} |\n", seps.join(" | ")));
        }
    }
    out
}

fn cell_json(c: &Cell) -> Value {
    match c {
        Cell::Val(v) => json!(v),
        Cell::Skipped => Value::Null,
        Cell::Failed(e) => json!({ "failed": e }),
    }
}

/// The rows, the raw one-more samples and the notes of one table as JSON.
pub fn to_json(results: &[SizeResult], rows: &[Row], cols: &Columns, notes: &[String]) -> Value {
    let rows_json: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut o = serde_json::Map::new();
            o.insert("n".into(), json!(r.n));
            o.insert("metric".into(), json!(r.metric));
            o.insert("unit".into(), json!(r.unit.label()));
            for (k, c) in cols.keys.iter().zip(&r.cells) {
                o.insert(k.to_string(), cell_json(c));
            }
            o.insert("depot_over_fastest_peer".into(), json!(r.ratio()));
            Value::Object(o)
        })
        .collect();
    let samples: Vec<Value> = results
        .iter()
        .map(|r| {
            let per_tool: serde_json::Map<String, Value> = cols
                .keys
                .iter()
                .zip(&r.one_secs)
                .map(|(k, s)| (k.to_string(), json!(s)))
                .collect();
            json!({ "n": r.n, "one_more_secs": per_tool, "notes": r.notes })
        })
        .collect();
    json!({
        "rows": rows_json,
        "samples": samples,
        "notes": notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p90() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        let twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&twenty, 90.0), Some(18.0));
        assert_eq!(percentile(&[5.0], 90.0), Some(5.0));
    }

    #[test]
    fn ratio_is_depot_over_fastest_available_peer() {
        let row = Row {
            n: 1,
            metric: String::new(),
            unit: Unit::Millis,
            cells: [Cell::Val(10.0), Cell::Failed("x".into()), Cell::Val(400.0)],
        };
        assert_eq!(row.ratio(), Some(0.025));
        assert_eq!(ratio_text(row.ratio()), "0.025 (40.0x less)");
        let none = Row {
            cells: [Cell::Skipped, Cell::Val(1.0), Cell::Val(2.0)],
            ..row
        };
        assert_eq!(none.ratio(), None);
    }
}
