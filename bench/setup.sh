#!/usr/bin/env bash
# What the benchmark needs beyond the tests (run as root on Debian): Ansible with the community.postgresql
# collection, Debian's ansible-mitogen (the mitogen_linear strategy), psycopg2 for the collection's modules on
# the managed hosts, and GNU time for peak memory. Process accounting needs no package: the bench switches it
# on with the acct system call itself. bench/run.ts calls this script when something is missing.
set -euo pipefail
missing=()
command -v ansible-playbook >/dev/null || missing+=(ansible)
[ -d /usr/lib/python3/dist-packages/ansible_mitogen ] || missing+=(ansible-mitogen)
/usr/bin/python3 -c 'import psycopg2' 2>/dev/null || missing+=(python3-psycopg2)
[ -x /usr/bin/time ] || missing+=(time)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bench setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
ansible-galaxy collection list community.postgresql 2>/dev/null | grep -q community.postgresql || {
  echo "bench setup: Debian's ansible package ships without community.postgresql here" >&2
  exit 1
}
