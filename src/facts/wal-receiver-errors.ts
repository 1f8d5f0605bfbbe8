// Why a standby does not stream, in plain words, from the last error its WAL receiver wrote to the server log.
// assert_streaming quotes it; the troubleshooter (issue 12) can call the same function with the log it reads.

export interface WalReceiverCause {
  /** The log line, as the server wrote it (from FATAL on). */
  line: string;
  /** What it means, for someone who does not read libpq's messages every day. */
  meaning: string;
}

const CAUSES: Array<[RegExp, string]> = [
  [/certificate verify failed|self[- ]signed certificate|unable to get local issuer certificate/i, "it does not trust the primary's certificate: the certificate is not signed by the CA in its sslrootcert (a wrong CA)"],
  [/server certificate for .* does not match host name/i, "the primary's certificate is for another name: its subjectAltName does not hold the address the standby connects to"],
  [/root certificate file .* does not exist/i, 'its sslrootcert names a file that is not there'],
  [/certificate has expired|certificate is not yet valid/i, "the primary's certificate is outside its validity dates"],
  [/server does not support SSL|SSL is not enabled on the server/i, 'the primary does not offer TLS (ssl = off) but the standby requires it'],
  [/no pg_hba\.conf entry for replication connection/i, "no rule in the primary's pg_hba.conf admits it (a hostssl rule needs a TLS connection)"],
  [/password authentication failed/i, 'the primary refused its replication password'],
  [/replication slot .* does not exist/i, 'its primary_slot_name names a slot that is not on the primary'],
  [/requested WAL segment .* has already been removed/i, 'the primary no longer has the WAL it needs (no slot kept it, or max_slot_wal_keep_size let it go): the standby must be cloned again'],
  [/Connection refused|timeout expired|No route to host|Network is unreachable|could not translate host name/i, 'it cannot reach the primary over the network'],
];

/** The newest WAL receiver error in a piece of a standby's log, explained; null when there is none. */
export function walReceiverCause(logTail: string): WalReceiverCause | null {
  const lines = logTail.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i];
    if (!/could not connect to the primary server|FATAL:.*(replication slot|WAL segment|terminating walreceiver)|could not receive data from WAL stream/i.test(l)) continue;
    const line = l.replace(/^.*?(FATAL|ERROR):\s+/, '').trim();
    const meaning = CAUSES.find(([re]) => re.test(l))?.[1] ?? 'its WAL receiver cannot connect';
    return { line, meaning };
  }
  return null;
}
