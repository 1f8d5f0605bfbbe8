#!/bin/bash
# What the day-2 benchmark needs besides the tests: Debian's repmgr for PostgreSQL 15, to compare switchovers.
set -euo pipefail
if [ ! -x /usr/lib/postgresql/15/bin/repmgr ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-15-repmgr
fi
/usr/lib/postgresql/15/bin/repmgr --version
