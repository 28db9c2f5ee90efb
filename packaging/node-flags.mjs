// The Node flags osdcast runs with: the SEA binaries' execArgv (packaging/package.mjs) and the bench's agents.
/**
 * Node flags the binaries start with (the SEA config's execArgv, honoured by Node 22.22.2). --max-semi-space-size=2:
 * at 150-200 MB/s V8 doubles the young generation (8 -> 16 MiB) on a long receive and the agent's peak RSS reached
 * 117-126 MiB on a 4 GiB image (limit --cache + 48 = 112); with the cap 104-112 MiB at the same speed
 * (docs/performance.md "Peak RSS of the 4 GiB image"). v8.setFlagsFromString at start-up has no effect on it.
 */
export const SEA_EXEC_ARGV = ['--max-semi-space-size=2'];
