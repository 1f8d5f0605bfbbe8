#!/usr/bin/env bash
# The built-in local demo: a fresh primary (127.0.0.21) and a fresh replica (127.0.0.22) on this
# machine under .demo/, then playbooks/site.yml turns them into a verified streaming pair.
# Run it again: the second run changes nothing. `bash scripts/demo.sh down` removes it all.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD/.demo"
bin=/usr/lib/postgresql/15/bin
hosts=(pg1:127.0.0.21 pg2:127.0.0.22)

as_pg() { runuser -u postgres -- "$@"; }

down() {
  for h in "${hosts[@]}"; do
    name=${h%%:*}
    [ -f "$root/$name/data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$root/$name/data" -m immediate stop >/dev/null 2>&1 || true
  done
  rm -rf "$root"
}

if [ "${1:-}" = down ]; then down; echo "demo removed"; exit 0; fi

bash scripts/setup.sh

# A fresh server as a package install leaves it: initialised, started, not set up for replication.
fresh_server() {
  local name=$1 addr=$2 dir="$root/$1"
  mkdir -p "$dir/data" "$dir/conf" "$dir/run"
  chown -R postgres:postgres "$dir"
  chmod 0700 "$dir/data"
  as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth-local=peer --auth-host=scram-sha-256 -E UTF8 --locale=C >/dev/null
  mv "$dir/data/postgresql.conf" "$dir/data/pg_hba.conf" "$dir/data/pg_ident.conf" "$dir/conf/"
  # initdb lets anyone stream from 127.0.0.1, where every loopback connection comes from: drop that,
  # so the replica streams through the rule the playbook adds.
  sed -i -E '/^host\s+replication\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s/d' "$dir/conf/pg_hba.conf"
  cat >>"$dir/conf/postgresql.conf" <<CONF
data_directory = '$dir/data'
hba_file = '$dir/conf/pg_hba.conf'
ident_file = '$dir/conf/pg_ident.conf'
listen_addresses = '$addr'
port = 5432
unix_socket_directories = '$dir/run'
shared_buffers = 32MB
CONF
  chown -R postgres:postgres "$dir"
  as_pg "$bin/pg_ctl" -D "$dir/conf" -l "$dir/server.log" -w start >/dev/null
}

if [ ! -f "$root/inventory.yml" ]; then
  down
  mkdir -p "$root"
  chmod 0755 "$root"
  for h in "${hosts[@]}"; do fresh_server "${h%%:*}" "${h#*:}"; done
  {
    echo "# The demo's inventory, written by scripts/demo.sh: two servers on this machine."
    echo "all:"
    echo "  vars:"
    echo "    connection: local"
    echo "    become_method: sudo"
    echo "    replication_user: replicator"
    echo "    pg_version: 15"
    echo "    pg_bin_dir: $bin"
    echo "    pg_port: 5432"
    echo "    pg_service: pg_ctl"
    echo "    pg_manage_firewall: false   # both servers are this machine: its firewall is not the demo's"
    echo "  children:"
    for group in primary replicas; do
      echo "    $group:"
      echo "      hosts:"
      for h in "${hosts[@]}"; do
        name=${h%%:*}; addr=${h#*:}
        if { [ $group = primary ] && [ $name = pg1 ]; } || { [ $group = replicas ] && [ $name != pg1 ]; }; then
          echo "        $name:"
          echo "          pg_address: $addr"
          echo "          pg_client_address: 127.0.0.1   # loopback connections come from 127.0.0.1"
          echo "          pg_data_dir: $root/$name/data"
          echo "          pg_config_dir: $root/$name/conf"
          echo "          pg_socket_dir: $root/$name/run"
          echo "          pg_log_file: $root/$name/server.log"
        fi
      done
    done
  } >"$root/inventory.yml"
  # The replication password lives outside the repo, readable by root only.
  umask 077
  head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$root/replication-password"
fi

PGPLAY_REPLICATION_PASSWORD=$(cat "$root/replication-password") \
  node bin/pgplay.js run playbooks/site.yml -i "$root/inventory.yml" "$@"

# The proof, asked of the servers themselves (pgplay's assert_streaming checked the same above).
case " $* " in *" --check "*|*" -C "*) exit 0 ;; esac
ask() { as_pg "$bin/psql" -X -q -h "$root/$1/run" -p 5432 -d postgres -c "$2"; }
echo
echo "pg1 (primary) sees:"
ask pg1 "SELECT application_name, client_addr, state, sync_state FROM pg_stat_replication"
echo "pg2 (replica) says:"
ask pg2 "SELECT pg_is_in_recovery() AS in_recovery, (SELECT status FROM pg_stat_wal_receiver) AS wal_receiver, (SELECT written_at FROM pgplay.marker WHERE id = 'pg1') AS marker_from_primary"
