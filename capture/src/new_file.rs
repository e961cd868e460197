//! [`NewCapture`]: the file a capture is written to, made before recording
//! starts, without ever writing through what already stood at its path.
//!
//! The recorder runs as root and is often pointed at a shared directory.
//! Opening `-o PATH` with `O_CREAT|O_TRUNC` would follow a symlink that
//! someone placed there and overwrite whatever it points to (as root: any
//! file), keeping that file's mode (a capture readable by everyone). So:
//!
//! - without `force`, the file is created at `PATH` with `O_EXCL`
//!   (`create_new`), which fails on any existing name, a symlink included
//!   (open(2): "if pathname is a symbolic link, open() fails regardless of
//!   where the symbolic link points");
//! - with `force`, it is created with `O_EXCL` beside `PATH` under a
//!   temporary name, and renamed over `PATH` once it holds a valid capture
//!   (rename(2) replaces the directory entry: a symlink there is replaced,
//!   not followed, and the capture has its own mode, 0600). Until then an
//!   old capture at `PATH` is untouched, so a recorder that fails to start
//!   loses nothing. Only a regular file or a symlink is replaced: `--force
//!   -o /dev/null` must not put a capture where a device node was.
//!
//! `sockrec plot` writes its charts the same way ([`NewCapture::create_file`]
//! with its own noun in the messages).
//!
//! Both are done before any probe is loaded, so a path that cannot be
//! written (a directory, a device, a read-only filesystem, a missing
//! directory) fails with one line and nothing loaded. A `NewCapture`
//! dropped before [`NewCapture::place`] removes the file it created.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};

/// A capture file created, not yet in place at its path (with `force`) or
/// not yet written (without).
#[derive(Debug)]
pub struct NewCapture {
    file: Option<File>,
    /// Where the capture goes.
    path: PathBuf,
    /// Where it was created, if not at `path` (with `force`).
    temp: Option<PathBuf>,
    /// What it is, in messages: "capture".
    noun: &'static str,
}

impl NewCapture {
    /// Creates the file for a capture at `path` (mode 0600: captures reveal
    /// who talked to whom). Fails if `path` exists, unless `force`; with
    /// `force`, fails if what exists is not a regular file or a symlink.
    pub fn create(path: &Path, force: bool) -> Result<NewCapture> {
        Self::create_file(path, force, "capture")
    }

    /// [`NewCapture::create`] for another output (`noun`: "chart"), with
    /// the same care.
    pub fn create_file(path: &Path, force: bool, noun: &'static str) -> Result<NewCapture> {
        let shown = path.display();
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => bail!("{noun} {shown} is a directory"),
            Ok(m) if !(m.is_file() || m.file_type().is_symlink()) => {
                let what = if m.file_type().is_char_device() || m.file_type().is_block_device() {
                    "a device"
                } else {
                    "not a regular file"
                };
                bail!("{noun} {shown} is {what}: a {noun} is only written to a new or regular file")
            }
            Ok(_) if !force => {
                bail!("{noun} {shown} already exists (use --force to overwrite)")
            }
            Ok(_) | Err(_) => {}
        }
        let temp = force.then(|| temp_path(path));
        let at = temp.as_deref().unwrap_or(path);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(at)
            .map_err(|e| match e.kind() {
                // Created between the check above and here.
                ErrorKind::AlreadyExists if temp.is_none() => {
                    anyhow!("{noun} {shown} already exists (use --force to overwrite)")
                }
                _ => anyhow::Error::new(e).context(format!("creating {noun} {shown}")),
            })?;
        Ok(NewCapture {
            file: Some(file),
            path: path.to_path_buf(),
            temp,
            noun,
        })
    }

    /// Where the capture goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the file is until [`NewCapture::place`]: for a writer that
    /// opens a path itself (plotters), which then finds the file made here.
    pub fn written_at(&self) -> &Path {
        self.temp.as_deref().unwrap_or(&self.path)
    }

    /// The open file, to write the capture into.
    pub fn file(&self) -> &File {
        self.file
            .as_ref()
            .expect("a NewCapture has its file until placed")
    }

    /// Puts the file at its path (with `force`: replacing what was there)
    /// and hands it over; from now on it is the capture, kept whatever
    /// happens next.
    pub fn place(mut self) -> Result<File> {
        if let Some(temp) = self.temp.take()
            && let Err(e) = std::fs::rename(&temp, &self.path)
        {
            let _ = std::fs::remove_file(&temp);
            return Err(e)
                .with_context(|| format!("creating {} {}", self.noun, self.path.display()));
        }
        Ok(self.file.take().expect("placed once"))
    }
}

impl Drop for NewCapture {
    fn drop(&mut self) {
        // Not placed: the recording never started. Remove only what we
        // created (an old capture at `path`, with `force`, stays).
        if self.file.is_some() {
            let _ = std::fs::remove_file(self.temp.as_deref().unwrap_or(&self.path));
        }
    }
}

/// `DIR/.NAME.sockrec-PID`: beside `path`, so the rename stays on one
/// filesystem (and atomic), hidden from `ls` and the `*.parquet` globs of
/// `sockrec query` while it exists.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = format!(
        ".{}.sockrec-{}",
        name.as_deref().unwrap_or("capture"),
        std::process::id()
    );
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(name),
        _ => PathBuf::from(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sockrec-new-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `--force` over a symlink replaces the link: the file it pointed to
    /// keeps its bytes and its mode, and the capture is 0600.
    #[test]
    fn force_replaces_a_symlink_never_writes_through_it() {
        let dir = scratch("symlink");
        let victim = dir.join("victim.txt");
        std::fs::write(&victim, "precious\n").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.join("cap.parquet");
        std::os::unix::fs::symlink(&victim, &link).unwrap();

        let err = NewCapture::create(&link, false).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");

        let new = NewCapture::create(&link, true).unwrap();
        std::io::Write::write_all(&mut new.file(), b"PAR1").unwrap();
        assert!(link.is_symlink(), "replaced only when placed");
        new.place().unwrap();
        assert!(!link.is_symlink());
        assert_eq!(std::fs::read(&link).unwrap(), b"PAR1");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&link), 0o600);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert_eq!(mode(&victim), 0o644);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `--force` over a 0644 file: the new capture is 0600, and the old
    /// one stays whole until the new one is placed.
    #[test]
    fn force_gives_a_new_file_of_its_own_mode() {
        let dir = scratch("mode");
        let old = dir.join("old.parquet");
        std::fs::write(&old, "old capture").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        let new = NewCapture::create(&old, true).unwrap();
        drop(new);
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "old capture");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 1, "the temporary file is removed");
        NewCapture::create(&old, true).unwrap().place().unwrap();
        let m = std::fs::metadata(&old).unwrap();
        assert_eq!((m.len(), m.permissions().mode() & 0o777), (0, 0o600));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_what_is_not_a_file() {
        let dir = scratch("notfile");
        for force in [false, true] {
            let err = NewCapture::create(&dir, force).unwrap_err().to_string();
            assert!(err.ends_with("is a directory"), "{err}");
            let err = NewCapture::create(Path::new("/dev/full"), force)
                .unwrap_err()
                .to_string();
            assert!(err.contains("/dev/full is a device"), "{err}");
            let missing = dir.join("no/such/dir/c.parquet");
            let err = format!("{:#}", NewCapture::create(&missing, force).unwrap_err());
            assert!(err.contains("No such file or directory"), "{err}");
        }
        // Not placed without force: dropping removes the half-made capture.
        let path = dir.join("c.parquet");
        drop(NewCapture::create(&path, false).unwrap());
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
