//! The master key that seals secrets at rest (HMAC signing secrets): the configured one, or,
//! for an SQLite store only, one generated on first start and kept beside the database file
//! (`master.key` in the database's directory, wherever the command runs). The database keeps a
//! check value of it (see `custody_sql::tables::master_key_check`), so a store opened with
//! another key is refused at once by [`check`], naming the fix.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use custody_core::ports::{DynApiKeyStore, MasterKeyCheck};
use custody_sql::seal::MasterKey;
use secrecy::ExposeSecret as _;

use crate::configuration::Settings;
use crate::system::random_bytes;

/// Where a generated master key lives: beside an SQLite database file.
#[derive(Debug, Clone)]
pub struct KeyHome {
    /// The database file (absent for an in-memory database).
    pub database: Option<PathBuf>,
    /// The directory the key file is kept in.
    pub dir: PathBuf,
}

impl KeyHome {
    /// The key file.
    pub fn key_file(&self) -> PathBuf {
        self.dir.join("master.key")
    }
}

/// The configured master key; for an SQLite store without one, the key in
/// `{home.dir}/master.key`, generated (mode 0600, its directory 0700 when created) on first
/// use. `home` is `None` for an external database (PostgreSQL), which must be given a key.
///
/// A database created before keys lived beside it (an explicit `sqlite:` URL, its key in
/// `{data_dir}/master.key` of the working directory): when the database exists, its
/// directory holds no key and the old location does, the old key is copied beside the
/// database (the check value then proves it is the right one).
///
/// # Errors
/// An invalid configured key; no key with an external database; an unreadable or invalid
/// key file.
pub fn resolve(settings: &Settings, home: Option<&KeyHome>) -> anyhow::Result<MasterKey> {
    if let Some(key) = &settings.security.master_key {
        return MasterKey::parse(key.expose_secret())
            .map_err(|e| anyhow::anyhow!("security.master_key is invalid: {e}"));
    }
    let Some(home) = home else {
        anyhow::bail!(
            "a master key is required with PostgreSQL: set CUSTODY_SECURITY__MASTER_KEY \
             (32 bytes, hex or base64; e.g. `openssl rand -hex 32`)"
        );
    };
    let path = home.key_file();
    if !path.exists() {
        custody_sqlite::files::create_private_dir(&home.dir)
            .with_context(|| format!("creating {}", home.dir.display()))?;
        let legacy = settings.database.data_dir.join("master.key");
        let existing_db = home.database.as_deref().is_some_and(Path::exists);
        if existing_db && legacy.exists() && !same_file(&legacy, &path) {
            let text = std::fs::read_to_string(&legacy)
                .with_context(|| format!("reading {}", legacy.display()))?;
            write_private(&path, text.trim())?;
            tracing::warn!(
                from = %legacy.display(),
                to = %path.display(),
                "copied the master key beside its database; the old copy may be removed"
            );
        } else {
            write_private(&path, &hex::encode(random_bytes()))?;
            tracing::info!(path = %path.display(), "generated a master key for the SQLite store");
        }
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    MasterKey::parse(text.trim())
        .map_err(|e| anyhow::anyhow!("{} does not hold a valid key: {e}", path.display()))
}

/// Refuses a master key that does not match the database's check value (recording the value
/// on the first start of a database without one).
///
/// # Errors
/// The mismatch, naming the fix; store trouble.
pub async fn check(
    keys: &DynApiKeyStore,
    home: Option<&KeyHome>,
    now: time::OffsetDateTime,
) -> anyhow::Result<()> {
    match keys
        .check_master_key(now)
        .await
        .context("checking the master key")?
    {
        MasterKeyCheck::Matches => Ok(()),
        MasterKeyCheck::Recorded => {
            tracing::info!("recorded the master key's check value in the database");
            Ok(())
        }
        MasterKeyCheck::Mismatch => {
            let source = match home {
                Some(home) => format!(
                    "the key file {} (or security.master_key / CUSTODY_SECURITY__MASTER_KEY when \
                     set)",
                    home.key_file().display()
                ),
                None => "security.master_key / CUSTODY_SECURITY__MASTER_KEY".to_owned(),
            };
            anyhow::bail!(
                "the master key does not match this database: its secrets were sealed under \
                 another key. Refusing to start rather than seal new secrets under the wrong \
                 key. Fix: provide the master key this database was created with, via {source}; \
                 never generate a new key for an existing database"
            )
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("creating {}", path.display()))
}
