#!/usr/bin/env bash
# The job of playbooks/site.yml as a plain shell script over ssh: the benchmark's baseline.
#   PGPLAY_REPLICATION_PASSWORD=... SSH_KEY=... KNOWN_HOSTS=... bash bench/shell/site.sh HOSTS_FILE
# HOSTS_FILE: one host a line, the primary first:
#   name role ssh_address pg_address pg_port pg_bin_dir pg_data_dir pg_config_dir pg_socket_dir pg_log_file client_address [listen_addresses]
# One ssh connection per host (ControlMaster); replicas are cloned and checked in parallel.
# Re-running it is safe: a replica that already is a standby of the primary is left alone.
set -euo pipefail

hosts_file=$1
: "${PGPLAY_REPLICATION_PASSWORD:?set PGPLAY_REPLICATION_PASSWORD}"
: "${SSH_KEY:?set SSH_KEY}" "${KNOWN_HOSTS:?set KNOWN_HOSTS}"
ssh_user=${SSH_USER:-root}
repl_user=${REPLICATION_USER:-replicator}
password=$PGPLAY_REPLICATION_PASSWORD
# libpq passfile fields escape \ and :
pass_field=${password//\\/\\\\}
pass_field=${pass_field//:/\\:}

ctl=$(mktemp -d)
ssh_opts=(-i "$SSH_KEY" -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes -o BatchMode=yes
  -o ControlMaster=auto -o ControlPath="$ctl/%h" -o ControlPersist=yes)
declare -A addr port bin data conf sock log ssh_addr client listen
replicas=()
primary=
while read -r name role sa pa pp pb pd pc ps pl ca la; do
  [ -z "$name" ] || [ "${name:0:1}" = '#' ] && continue
  ssh_addr[$name]=$sa addr[$name]=$pa port[$name]=$pp bin[$name]=$pb data[$name]=$pd conf[$name]=$pc sock[$name]=$ps log[$name]=$pl client[$name]=${ca:-$pa} listen[$name]=${la:-$pa}
  if [ "$role" = primary ]; then primary=$name; else replicas+=("$name"); fi
done <"$hosts_file"
[ -n "$primary" ] || { echo "no primary in $hosts_file" >&2; exit 1; }

close() { for h in "$primary" "${replicas[@]}"; do ssh "${ssh_opts[@]}" -O exit "$ssh_user@${ssh_addr[$h]}" 2>/dev/null || true; done; rm -rf "$ctl"; }
trap close EXIT

# Runs the script on stdin as root on host $1 (the script, and any secret in it, never reaches argv).
on() { ssh "${ssh_opts[@]}" "$ssh_user@${ssh_addr[$1]}" bash -s; }
sql_quote() { printf "'%s'" "${1//\'/\'\'}"; }
# Shell prelude on each host: psql and PostgreSQL tools as the postgres OS user.
prelude() {
  cat <<SH
set -euo pipefail
cd /
B=${bin[$1]} D=${data[$1]}
as_pg() { runuser -u postgres -- "\$@"; }
psql() { PGOPTIONS='-c client_min_messages=warning' as_pg "\$B/psql" -X -q -At -v ON_ERROR_STOP=1 -h ${sock[$1]} -p ${port[$1]} -d postgres "\$@"; }
SH
}

echo "== configure primary $primary"
hba_lines=
for r in "${replicas[@]}"; do hba_lines+="host replication $repl_user ${client[$r]}/32 scram-sha-256"$'\n'; done
system_id=$(
  {
    prelude "$primary"
    cat <<SH
psql <<'SQL'
ALTER SYSTEM SET listen_addresses = '${listen[$primary]}';
ALTER SYSTEM SET wal_level = 'replica';
ALTER SYSTEM SET max_wal_senders = 32;
ALTER SYSTEM SET max_replication_slots = 16;
ALTER SYSTEM SET wal_keep_size = '256MB';
ALTER SYSTEM SET hot_standby = 'on';
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET pgplay.pw = $(sql_quote "$password");
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$repl_user') THEN
    EXECUTE format('CREATE ROLE %I LOGIN REPLICATION PASSWORD %L', '$repl_user', current_setting('pgplay.pw'));
  ELSE
    EXECUTE format('ALTER ROLE %I LOGIN REPLICATION PASSWORD %L', '$repl_user', current_setting('pgplay.pw'));
  END IF;
END
\$\$;
SQL
hba=\$(psql -c 'SHOW hba_file')
while IFS= read -r line; do
  [ -n "\$line" ] && { grep -qxF "\$line" "\$hba" || echo "\$line" >>"\$hba"; }
done <<'HBA'
$hba_lines
HBA
psql -c 'SELECT pg_reload_conf()' >/dev/null
stale=\$(psql -c "SELECT count(*) FROM pg_settings WHERE (name, setting) IN (('listen_addresses', '${listen[$primary]}'), ('wal_level', 'replica'), ('max_wal_senders', '32'), ('max_replication_slots', '16'), ('hot_standby', 'on'))")
if [ "\$stale" != 5 ]; then as_pg "\$B/pg_ctl" restart -D ${conf[$primary]} -l ${log[$primary]} -m fast -w -t 60 >/dev/null; fi
psql -c 'SELECT system_identifier FROM pg_control_system()'
SH
  } | on "$primary"
)

clone() {
  local r=$1 p=$primary
  {
    prelude "$r"
    cat <<SH
id=\$(LC_ALL=C as_pg "\$B/pg_controldata" "\$D" 2>/dev/null | sed -n 's/^Database system identifier: *//p' || true)
if [ -f "\$D/standby.signal" ] && [ "\$id" = $system_id ]; then
  echo "$r: already a standby of $p"
else
  if as_pg "\$B/pg_ctl" status -D "\$D" >/dev/null 2>&1; then as_pg "\$B/pg_ctl" stop -D "\$D" -m fast -w -t 120 >/dev/null; fi
  # Beside the data directory, named so the lab's teardown finds them (hosts of the lab may share /var/lib).
  if [ -e "\$D" ]; then as_pg mv "\$D" "\$D.pgplay-old-\$(date -u +%Y%m%dT%H%M%SZ)"; fi
  passfile=\$D.pgplay-bench-passfile
  (umask 077; printf '%s\n' $(printf %q "${addr[$p]}:${port[$p]}:*:$repl_user:$pass_field") >"\$passfile")
  chown postgres: "\$passfile"
  as_pg env PGPASSFILE="\$passfile" PGAPPNAME=$r "\$B/pg_basebackup" -h ${addr[$p]} -p ${port[$p]} -U $repl_user -D "\$D" -X stream -R -c fast -w
  # pg_basebackup copied the primary's settings: point this host at its own address and socket.
  sed -i -E '/^(primary_conninfo|listen_addresses|port|unix_socket_directories)\s*=/d' "\$D/postgresql.auto.conf"
  cat >>"\$D/postgresql.auto.conf" <<CONF
primary_conninfo = 'host=${addr[$p]} port=${port[$p]} user=$repl_user passfile=\$passfile application_name=$r'
listen_addresses = '${listen[$r]}'
port = ${port[$r]}
unix_socket_directories = '${sock[$r]}'
CONF
  echo "$r: cloned from $p"
fi
as_pg "\$B/pg_ctl" status -D "\$D" >/dev/null 2>&1 || as_pg "\$B/pg_ctl" start -D ${conf[$r]} -l ${log[$r]} -w -t 60 >/dev/null
SH
  } | on "$r"
}

echo "== clone ${replicas[*]}"
pids=()
for r in "${replicas[@]}"; do clone "$r" & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid"; done

echo "== verify"
token=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
names=$(for r in "${replicas[@]}"; do printf "'%s'," "$r"; done)
{
  prelude "$primary"
  cat <<SH
for i in \$(seq 300); do
  n=\$(psql -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name IN (${names%,})")
  [ "\$n" = ${#replicas[@]} ] && break
  [ "\$i" = 300 ] && { echo "only \$n of ${#replicas[@]} replicas stream" >&2; exit 1; }
  sleep 0.2
done
psql <<'SQL'
CREATE SCHEMA IF NOT EXISTS pgplay;
CREATE TABLE IF NOT EXISTS pgplay.marker (id text PRIMARY KEY, token text NOT NULL, written_at timestamptz NOT NULL DEFAULT now());
INSERT INTO pgplay.marker (id, token) VALUES ('$primary', '$token') ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token, written_at = now();
SQL
SH
} | on "$primary"

check() {
  local r=$1
  {
    prelude "$r"
    cat <<SH
for i in \$(seq 300); do
  got=\$(psql -c "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver), (SELECT token FROM pgplay.marker WHERE id = '$primary')" 2>/dev/null || true)
  [ "\$got" = "t|streaming|$token" ] && break
  [ "\$i" = 300 ] && { echo "$r: not a streaming standby with the marker (\$got)" >&2; exit 1; }
  sleep 0.2
done
if out=\$(psql -c "INSERT INTO pgplay.marker (id, token) VALUES ('write-test-$r', 'x')" 2>&1); then
  echo "$r: accepted a write" >&2; exit 1
fi
case "\$out" in *read-only*) echo "$r: streams, read the marker, refuses writes" ;; *) echo "$r: \$out" >&2; exit 1 ;; esac
SH
  } | on "$r"
}
pids=()
for r in "${replicas[@]}"; do check "$r" & pids+=($!); done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
exit $failed
