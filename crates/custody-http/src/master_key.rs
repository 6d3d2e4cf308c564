//! The master key that seals secrets at rest (HMAC signing secrets): the configured one, or,
//! for the embedded store only, one generated on first start and kept beside the database.

use std::path::Path;

use anyhow::Context as _;
use custody_sql::seal::MasterKey;
use secrecy::ExposeSecret as _;

use crate::configuration::Settings;
use crate::system::random_bytes;

/// The configured master key; for the embedded store without one, the key in
/// `{data_dir}/master.key`, generated (mode 0600) on first use.
///
/// # Errors
/// An invalid configured key; no key with an external database; an unreadable or invalid
/// key file.
pub fn resolve(settings: &Settings, embedded: bool) -> anyhow::Result<MasterKey> {
    if let Some(key) = &settings.security.master_key {
        return MasterKey::parse(key.expose_secret())
            .map_err(|e| anyhow::anyhow!("security.master_key is invalid: {e}"));
    }
    anyhow::ensure!(
        embedded,
        "a master key is required with PostgreSQL: set CUSTODY_SECURITY__MASTER_KEY \
         (32 bytes, hex or base64; e.g. `openssl rand -hex 32`)"
    );
    let path = settings.database.data_dir.join("master.key");
    if !path.exists() {
        std::fs::create_dir_all(&settings.database.data_dir)
            .with_context(|| format!("creating {}", settings.database.data_dir.display()))?;
        write_private(&path, &hex::encode(random_bytes()))?;
        tracing::info!(path = %path.display(), "generated a master key for the embedded store");
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    MasterKey::parse(text.trim())
        .map_err(|e| anyhow::anyhow!("{} does not hold a valid key: {e}", path.display()))
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
