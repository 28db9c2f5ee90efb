/**
 * Every default of a command-line option, in program units (durations in ms, sizes in bytes), and the few
 * transport defaults beside them. The option table (options.ts) shows these in --help; the layers fall back on the
 * same constants when a caller (a test, the bench) leaves an option out. Nothing else spells these numbers.
 */
export const MiB = 1024 * 1024;

export const DEFAULTS = {
  /** --cache: memory ring between network and disk. */
  cacheBytes: 64 * MiB,
  /** --retries (ConfigMgr SMSTSDownloadRetryCount). */
  retries: 2,
  /** --retry-delay (ConfigMgr SMSTSDownloadRetryDelay). */
  retryDelayMs: 15_000,
  /** --mcast-timeout: no multicast data this long after JOIN → HTTP (0: never). */
  mcastTimeoutMs: 60_000,
  /** --min-rate-window: how long the rate must stay below --min-rate. */
  minRateWindowMs: 60_000,
  /** --log-max-size: rotate a log file at this size (0: never). */
  logMaxSizeBytes: 2 * MiB,
  /** --log-level. */
  logLevel: 'info',
  /** --initiation: MS-WDSC over RPC first, then MS-WDSMSI over UDP. */
  initiation: 'auto',
  /** --rpc-port: the WDS server's RPC port (wdsutil /Set-Server /RpcPort); on refusal the endpoint mapper is asked. */
  rpcPort: 5040,
  /** --rpc-timeout: bound on each RPC connect and call. */
  rpcTimeoutMs: 10_000,
  /** --block-base: detect the server's block numbering. */
  blockBase: 'auto',
  /** --portbase: udpcast's receiver port (the sender's is the next). */
  udpcastPortbase: 9000,
  /** Not a flag: an HTTP(S) request (content or listing) with no byte for this long is aborted and retried. */
  httpIdleTimeoutMs: 60_000,
} as const;
