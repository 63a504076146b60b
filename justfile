# Shortcuts; the README's plain cargo commands are the reference.

default: test

# Start the server (memory store).
run:
    cargo run --release

# Every test.
test:
    cargo test --workspace

# Formatting and lints, as CI runs them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# The seed's Python client against a live server.
seed:
    bash tests/seed_client/run.sh

# Gatehouse against node-oidc-provider on this machine; writes docs/benchmarks.md.
bench:
    bash bench/run.sh

# Storage and throughput under sustained refresh rotation, before and after: `just bench-growth main`.
bench-growth rev:
    bash bench/growth.sh {{rev}}

# This tree against an earlier revision, alternating runs: `just bench-ab main`.
bench-ab rev:
    bash bench/ab.sh {{rev}}

# Build the .deb (cargo-deb), install it, start it as its systemd unit would,
# check /readyz, then uninstall it. Needs root and dpkg.
deb:
    bash tests/deb/run.sh

# Everything CI runs.
ci:
    bash .ci/run
