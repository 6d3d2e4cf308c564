//! Custody in-process over the embedded SQLite store and the sandbox provider, no HTTP:
//! create a tenant and vaults, mint an address, simulate a deposit, transfer, withdraw (the
//! dispatch worker runs in this program's runtime until the withdrawal is final), and print
//! the ledger-backed balances.
//!
//! ```text
//! cargo run -p custody-embed --example embedded_sqlite
//! ```
//!
//! The database is a new file in a temporary directory, removed at the end; set
//! `CUSTODY_EXAMPLE_DB=sqlite://custody-example.db` to keep one (with
//! `CUSTODY_MASTER_KEY`, 64 hex characters, to reopen it later).

mod shared;

use custody_embed::{Custody, MasterKey};

/// Builds the custody over `url` and runs the flow.
pub async fn run(
    url: &str,
    master: MasterKey,
) -> Result<shared::Report, Box<dyn std::error::Error>> {
    let custody = Custody::builder()
        .sqlite(url)
        .master_key(master)
        .sandbox_chain(shared::fast_chain())
        .build()
        .await?;
    shared::run(&custody).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let url = std::env::var("CUSTODY_EXAMPLE_DB")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("custody.db").display()));
    // The key that seals secrets at rest: keep it with the database (a new database here).
    let master = match std::env::var("CUSTODY_MASTER_KEY") {
        Ok(key) => MasterKey::parse(&key)?,
        Err(_) => MasterKey::from_bytes(custody_embed::system::random_bytes()),
    };
    let report = run(&url, master).await?;
    println!("{report:#?}");
    Ok(())
}
