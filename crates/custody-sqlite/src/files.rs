//! Owner-only files on disk (Unix): the database directory is created 0700, the database
//! file 0600 (SQLite creates its `-wal` and `-shm` files with the database file's permissions,
//! so they are 0600 too), and so is the generated master key beside it. Elsewhere the
//! platform's defaults apply.

use std::io;
use std::path::Path;

/// Creates `dir` and any missing parents, each new one owner-only (0700). Existing directories
/// are left as they are.
///
/// # Errors
/// As [`std::fs::DirBuilder::create`].
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates `path` empty and owner-only (0600) unless it exists; an existing file is left as
/// it is.
///
/// # Errors
/// As [`std::fs::OpenOptions::open`], except that the file existing is no error.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
