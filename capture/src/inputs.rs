//! [`expand_inputs`]: the capture files that command-line inputs name
//! (files, directories of `*.parquet` files, glob patterns), as `sockrec
//! info CAPTURE...` and `sockrec query -i CAPTURE` both take them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

/// The files `inputs` name, each once, in the order given:
/// - a directory: its `*.parquet` files, by name (not its subdirectories);
/// - a pattern with `*`, `?` or `[` that is not an existing path: the files
///   it matches, by name (for patterns the shell didn't expand, `-i 'caps/*.parquet'`);
/// - anything else: that file (whose errors [`crate::CaptureInfo::open`] reports).
pub fn expand_inputs(inputs: &[String]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut add = |p: PathBuf, out: &mut Vec<PathBuf>| {
        let key = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if seen.insert(key) {
            out.push(p);
        }
    };
    for input in inputs {
        let path = Path::new(input);
        // A directory's or a pattern's files, sorted by name; none is an error.
        let (mut files, none): (Vec<PathBuf>, &str) = if path.is_dir() {
            let files = std::fs::read_dir(path)
                .map_err(|e| anyhow!("{input}: {e}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "parquet") && p.is_file())
                .collect();
            (files, "no *.parquet capture in this directory")
        } else if !path.exists() && input.contains(['*', '?', '[']) {
            let matches = glob::glob(input).map_err(|e| anyhow!("{input}: bad pattern: {e}"))?;
            let files = matches
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            (files, "no file matches")
        } else {
            add(path.to_path_buf(), &mut out);
            continue;
        };
        if files.is_empty() {
            bail!("{input}: {none}");
        }
        files.sort();
        for f in files {
            add(f, &mut out);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory with the given empty files.
    fn dir_with(name: &str, files: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sockrec-capture-inputs-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub.parquet")).unwrap();
        for f in files {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        dir
    }

    fn expand(inputs: &[&str]) -> Result<Vec<PathBuf>> {
        expand_inputs(&inputs.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn directories_and_patterns_give_their_files_by_name_each_once() {
        let dir = dir_with(
            "expand",
            &["b.parquet", "a.parquet", "notes.txt", "c*.parquet"],
        );
        let d = dir.display().to_string();
        let (a, b, c) = (
            dir.join("a.parquet"),
            dir.join("b.parquet"),
            dir.join("c*.parquet"),
        );
        // Not its subdirectories, nor its other files.
        assert_eq!(expand(&[&d]).unwrap(), [a.clone(), b.clone(), c.clone()]);
        // A file named first is not repeated by the directory after it.
        assert_eq!(
            expand(&[&format!("{d}/b.parquet"), &d]).unwrap(),
            [b.clone(), a.clone(), c.clone()]
        );
        assert_eq!(expand(&[&format!("{d}/?.parquet")]).unwrap(), [a, b]);
        // An existing name with a `*` in it is that file, not a pattern.
        assert_eq!(expand(&[&format!("{d}/c*.parquet")]).unwrap(), [c]);
        // A missing file is left to the reader to report.
        assert_eq!(
            expand(&["/nonexistent/x.parquet"]).unwrap(),
            [PathBuf::from("/nonexistent/x.parquet")]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nothing_to_read_is_an_error_naming_the_input() {
        let dir = dir_with("empty", &["notes.txt"]);
        let d = dir.display().to_string();
        let err = |input: &str| format!("{:#}", expand(&[input]).unwrap_err());
        assert_eq!(
            err(&d),
            format!("{d}: no *.parquet capture in this directory")
        );
        let pattern = format!("{d}/nothing-*.parquet");
        assert_eq!(err(&pattern), format!("{pattern}: no file matches"));
        assert!(err(&format!("{d}/[")).contains(": bad pattern: "));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
