//! The `custody` binary.
//!
//! The server (`custody serve`) and the operator commands (`custody admin …`) arrive with the
//! partner-API issue. Until then the binary refuses to pretend: it says what is missing and exits
//! with a non-zero status.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "custody: the HTTP server is not built yet. The domain core (custody-core) is in place; \
         `custody serve` and `custody admin` land with the partner-API work. \
         Run the tests with `cargo test --workspace`."
    );
    ExitCode::from(2)
}
