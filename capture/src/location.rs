//! [`Location`]: where a capture is, a file on this machine or an object
//! in a store (`s3://BUCKET/KEY`). Errors start with it, and `sockrec
//! query`'s `capture` column holds it, as the user wrote it down.

use std::fmt;
use std::path::{Path, PathBuf};

/// The scheme of the object stores captures are read from.
pub const OBJECT_SCHEME: &str = "s3://";

/// Whether a command-line input names an object in a store, not a file.
pub fn is_object_url(input: &str) -> bool {
    input.starts_with(OBJECT_SCHEME)
}

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
