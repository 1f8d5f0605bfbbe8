// One SQL session per server, reached as the PostgreSQL OS user through the host's connection.
export interface SqlSession {
  /** Parameterised query; rows as objects. A text of several statements (no parameters) answers with the last one's rows. */
  query<T = Record<string, unknown>>(text: string, params?: unknown[], options?: QueryOptions): Promise<T[]>;
  /**
   * End the session. wait: false (the run is ending, its agent closes right after) sends the Terminate message and
   * returns without waiting for the server's end: the agent writes it to the server before it closes the socket.
   */
  close(options?: { wait?: boolean }): Promise<void>;
  readonly closed: boolean;
}

export interface QueryOptions {
  /**
   * false: an interrupt (Ctrl-C) does not cancel this statement; for one whose effect cannot be taken back once it
   * starts, such as pg_promote(), so that what follows knows whether it happened. Default true.
   */
  interruptible?: boolean;
}
