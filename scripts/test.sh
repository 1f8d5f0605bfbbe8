#!/usr/bin/env bash
# The test command: installs what the tests need, builds, then runs unit and lab end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# One file at a time: the end-to-end tests start their own servers on loopback addresses.
node --test --test-concurrency=1 dist/test
