//! [`Location`]: where a capture is, a file on this machine or an object
//! in a store (`s3://BUCKET/KEY`). Errors start with it, and `sockrec
//! query`'s `capture` column holds it, as the user wrote it down.

use std::fmt;
use std::path::{Path, PathBuf};

/// A capture's place: a local file, or an object's URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    File(PathBuf),
    /// `s3://BUCKET/KEY`: fetched through an object store client.
    Object(String),
}

impl Location {
    /// The local file, if the capture is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Location::File(path) => Some(path),
            Location::Object(_) => None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(path) => path.display().fmt(f),
            Location::Object(url) => url.fmt(f),
        }
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Location {
        Location::File(path)
    }
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Location {
        Location::File(path.to_path_buf())
    }
}
