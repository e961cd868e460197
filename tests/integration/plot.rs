//! `sockrec plot`: every report it draws, from the fixtures, as SVG (read
//! back by an XML parser: the title, the axes' labels and units, a legend
//! entry per series or a label per bucket, as `sockrec query` prints them)
//! and as PNG (an image of the size the charts take).
//!
//! Nothing here needs root.

use std::collections::BTreeSet;
use std::path::Path;

use crate::query::{csv_rows, fixture, query_ok};
use crate::{
    ensure,
    util::{self, TempDir, TestResult, Tests},
};

pub const TESTS: Tests = crate::tests![plot_draws_what_query_prints, plot_refuses_bad_input];

/// The text of every `<text>` element of the SVG at `path`.
fn svg_texts(path: &Path) -> Result<BTreeSet<String>, String> {
    let svg = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let doc = roxmltree::Document::parse(&svg).map_err(|e| format!("{}: {e}", path.display()))?;
    ensure!(doc.root_element().tag_name().name() == "svg", "not an SVG");
    Ok(doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect())
}

/// `sockrec plot ARGS`: success, and its stderr.
fn plot_ok(args: &[&str]) -> Result<String, String> {
    let out = util::run(util::sockrec().arg("plot").args(args));
    let err = util::stderr(&out);
    ensure!(out.status.success(), "plot {args:?}: {err}");
    Ok(err)
}

/// Each report drawn: its title, axis descriptions, and a series per probe
/// (sockstat), per process and direction (tcptop), a bar label per bucket
/// (the histograms, labelled as the tool format labels them).
fn plot_draws_what_query_prints() -> TestResult {
    let dir = TempDir::new("plot");
    let source = fixture("connections");
    let src = source.to_str().unwrap();
    let svg = |name: &str| dir.path().join(format!("{name}.svg"));

    plot_ok(&[
        "sockstat",
        "-i",
        src,
        "-o",
        svg("sockstat").to_str().unwrap(),
    ])?;
    let texts = svg_texts(&svg("sockstat"))?;
    ensure!(
        texts.contains("sockstat: socket calls per second, by probe")
            && texts.contains("calls per second")
            && texts.iter().any(|t| t.starts_with("seconds after ")),
        "sockstat's title or axes: {texts:?}"
    );
    let probes: BTreeSet<String> =
        csv_rows(&query_ok(&["sockstat", "-i", src, "--format", "csv"])?)
            .into_iter()
            .skip(1)
            .map(|r| r[1].clone())
            .collect();
    ensure!(probes.len() > 3, "sockstat has {probes:?}");
    for probe in &probes {
        ensure!(texts.contains(probe), "no series {probe} in {texts:?}");
    }

    plot_ok(&["tcptop", "-i", src, "-o", svg("tcptop").to_str().unwrap()])?;
    let texts = svg_texts(&svg("tcptop"))?;
    let top = csv_rows(&query_ok(&["tcptop", "-i", src, "--format", "csv"])?);
    let (host, pid, comm) = (&top[1][1], &top[1][3], &top[1][4]);
    for want in [
        format!("tcptop on {host}: TCP bytes per second, by process"),
        "KiB per second".to_string(),
        format!("{comm} {pid} rx"),
        format!("{comm} {pid} tx"),
    ] {
        ensure!(texts.contains(&want), "tcptop: no {want:?} in {texts:?}");
    }

    for (report, unit) in [
        ("socksize", "bytes"),
        ("soconnlat", "connect latency (µs)"),
        ("so1stbyte", "time from connect to first byte read (µs)"),
    ] {
        plot_ok(&[report, "-i", src, "-o", svg(report).to_str().unwrap()])?;
        let texts = svg_texts(&svg(report))?;
        ensure!(
            texts.contains(unit) && texts.contains("count"),
            "{report}'s axes: {texts:?}"
        );
        // Every histogram the tool prints, by its `@map[keys]` line, and
        // each of its bucket labels.
        let tool = query_ok(&[report, "-i", src])?;
        let mut charts = 0;
        for line in tool.lines() {
            if let Some(head) = line.strip_prefix('@') {
                charts += 1;
                let title = format!("{report} @{}", head.trim_end().trim_end_matches(':'));
                ensure!(
                    texts
                        .iter()
                        .any(|t| t.starts_with(&title[..title.find('[').unwrap_or(title.len())])),
                    "{report}: no chart {title:?} in {texts:?}"
                );
            } else if line.starts_with('[') || line.starts_with('(') {
                let label = line.split("  ").next().unwrap().trim();
                ensure!(
                    texts.contains(label),
                    "{report}: no bucket {label:?} in {texts:?}"
                );
            }
        }
        ensure!(charts > 0, "{report} printed no histogram");
    }

    // PNG: an image, as tall as its charts.
    let png = dir.path().join("socksize.png");
    let said = plot_ok(&["socksize", "-i", src, "-o", png.to_str().unwrap()])?;
    let bytes = std::fs::read(&png).unwrap();
    ensure!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let (w, h) = (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    );
    ensure!(
        said.contains("drew 2 chart(s)") && w == 1000 && h == 840,
        "{said}: {w}x{h}"
    );
    Ok(())
}

/// Bad input: one line, exit 1, no file written.
fn plot_refuses_bad_input() -> TestResult {
    let dir = TempDir::new("plot-bad");
    let src = fixture("connections");
    let out = dir.path().join("x.svg");
    for (args, wanted) in [
        (vec!["tcplife"], "tcplife is not drawn"),
        (vec!["nosuch"], "nosuch"),
        (vec!["socksize", "-o", "x.jpg"], "must end in .svg or .png"),
    ] {
        let mut cmd = util::sockrec();
        cmd.arg("plot").args(&args).arg("-i").arg(&src);
        if !args.contains(&"-o") {
            cmd.arg("-o").arg(&out);
        }
        let o = util::run(cmd.current_dir(dir.path()));
        ensure!(o.status.code() == Some(1), "plot {args:?}: {:?}", o.status);
        let line = util::one_error_line(&o)?;
        ensure!(line.contains(wanted), "plot {args:?}: {line}");
    }
    ensure!(!out.exists(), "a refused plot wrote {}", out.display());
    std::fs::write(&out, "mine").unwrap();
    let o = util::run(
        util::sockrec()
            .args(["plot", "sockstat", "-i"])
            .arg(&src)
            .arg("-o")
            .arg(&out),
    );
    ensure!(
        util::one_error_line(&o)?.contains("already exists"),
        "overwrote"
    );
    ensure!(std::fs::read(&out).unwrap() == b"mine", "overwrote");
    // --force replaces a symlink at the path; what it points to stays.
    let link = dir.path().join("link.svg");
    std::os::unix::fs::symlink(&out, &link).unwrap();
    let o = util::run(
        util::sockrec()
            .args(["plot", "sockstat", "--force", "-i"])
            .arg(&src)
            .arg("-o")
            .arg(&link),
    );
    ensure!(o.status.success(), "plot --force: {:?}", o.status);
    ensure!(
        std::fs::read(&out).unwrap() == b"mine",
        "wrote through the symlink"
    );
    let meta = std::fs::symlink_metadata(&link).unwrap();
    ensure!(
        meta.is_file(),
        "{} is not a chart of its own",
        link.display()
    );
    ensure!(
        std::fs::read_to_string(&link).unwrap().contains("<svg"),
        "not an SVG"
    );
    Ok(())
}
