export type Env = Readonly<Record<string, string | undefined>>;

/**
 * An environment variable by name, ignoring case as Windows does (process.env is case-insensitive there, but a
 * plain object passed in tests, or the environment seen under Wine, is not). The exact spelling wins.
 */
export function envValue(env: Env, name: string): string | undefined {
  if (env[name] !== undefined) return env[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(env)) if (k.toLowerCase() === lower && v !== undefined) return v;
  return undefined;
}
