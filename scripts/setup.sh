#!/usr/bin/env bash
# Installs what pgplay's demo and tests need on a fresh Debian machine (run as root), then builds.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v sudo >/dev/null || missing+=(sudo)
command -v pkill >/dev/null && command -v ps >/dev/null || missing+=(procps)
command -v flock >/dev/null || missing+=(util-linux)
command -v perl >/dev/null || missing+=(perl-base)
command -v pg_basebackup >/dev/null || missing+=(postgresql-client-15)
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
# The network-namespace lab: Debian hosts are made and run by postgresql-common, namespaces and links by iproute2,
# and nftables and ufw are there for the firewall cases (ufw stays inactive on the machine itself: a lab host
# enables its own copy of /etc/ufw). The package module's test installs and removes sl with apt.
command -v pg_createcluster >/dev/null || missing+=(postgresql-common)
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
command -v ufw >/dev/null || missing+=(ufw)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
mkdir -p /run/sshd

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# The build: TypeScript to dist/, then the schema validators as code (start-up skips ajv's compile).
node node_modules/typescript/bin/tsc -p tsconfig.json
node dist/src/tools/build-validators.js >/dev/null
# The host agent is Perl, sent to each host as it starts: it lives beside the code that sends it.
cp src/connection/agent.pl dist/src/connection/agent.pl
