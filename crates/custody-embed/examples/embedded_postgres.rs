//! The same wiring as `embedded_sqlite`, over PostgreSQL: only the URL differs (the scheme
//! picks the store).
//!
//! ```text
//! DATABASE_URL=postgres://custody:custody@localhost/custody \
//! CUSTODY_MASTER_KEY=$(openssl rand -hex 32) \
//!   cargo run -p custody-embed --example embedded_postgres
//! ```
//!
//! The schema is migrated on build. CI runs this example's flow against a throwaway
//! PostgreSQL cluster (`crates/custody-embed/tests/examples.rs`).

mod shared;

use custody_embed::{Custody, MasterKey};

/// Builds the custody over `url` and runs the flow.
pub async fn run(
    url: &str,
    master: MasterKey,
) -> Result<shared::Report, Box<dyn std::error::Error>> {
    let custody = Custody::builder()
        .postgres(url)
        .master_key(master)
        .sandbox_chain(shared::fast_chain())
        .build()
        .await?;
    shared::run(&custody).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL to a postgres:// URL (see the file's doc)")?;
    let master = match std::env::var("CUSTODY_MASTER_KEY") {
        Ok(key) => MasterKey::parse(&key)?,
        Err(_) => {
            return Err(
                "set CUSTODY_MASTER_KEY (64 hex characters; keep it with the database)".into(),
            )
        }
    };
    let report = run(&url, master).await?;
    println!("{report:#?}");
    Ok(())
}
