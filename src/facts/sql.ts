// One SQL session per server, reached as the PostgreSQL OS user through the host's connection.
export interface SqlSession {
  /** Parameterised query; rows as objects. */
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
  readonly closed: boolean;
}
