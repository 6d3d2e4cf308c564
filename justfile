# Developer conveniences. Optional: every recipe is one plain cargo command you can run without
# `just` (install it with `cargo install just`). CI runs `bash .ci/run` and does not need `just`.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes
default:
    @just --list

# Run the server (`custody serve`)
run:
    cargo run -p custody-http --bin custody -- serve

# Run every test in the workspace
test:
    cargo test --workspace

# Format the whole workspace
fmt:
    cargo fmt --all

# Lint every crate and target, all features, warnings as errors
lint:
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# Check advisories, licenses, bans and sources with cargo-deny (deny.toml)
deny:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! cargo deny --version >/dev/null 2>&1; then
        echo "cargo-deny is not installed: run \`cargo install --locked cargo-deny\` and retry." >&2
        exit 1
    fi
    cargo deny check

# Store benchmarks on SQLite and PostgreSQL, then the end-to-end benchmark against `custody
# serve` with the same run's database ceilings (release build; docs/performance.md). Arguments
# go to custody-bench, e.g. `just bench --doc docs/performance.md --section after`.
bench *ARGS:
    cargo bench -p custody-sqlite -p custody-postgres --bench store
    cargo build --release -p custody-http -p custody-bench --bins
    target/release/custody-bench {{ARGS}}

# Only the end-to-end benchmark (release build); e.g. `just bench-e2e --growth`
bench-e2e *ARGS:
    cargo build --release -p custody-http -p custody-bench --bins
    target/release/custody-bench {{ARGS}}

# Run exactly what CI runs
ci:
    bash .ci/run

# Build the docs of core and the stores, warnings as errors
doc:
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p custody-core -p custody-sql -p custody-postgres -p custody-sqlite -p custody-conformance
