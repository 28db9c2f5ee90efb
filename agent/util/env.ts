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

/** The environment variable that may hold --user's password. */
export const PASSWORD_ENV = 'OSDCAST_PASSWORD';

/** The environment for a child process (reg, cscript, …): the given one without the password, in any spelling. */
export function childEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && k.toUpperCase() !== PASSWORD_ENV) out[k] = v;
  return out;
}

/**
 * Takes the password out of the environment (every spelling), so that no child process inherits it; returns an
 * environment holding only it, for the credential resolution.
 */
export function takePassword(env: Record<string, string | undefined>): Env {
  let value: string | undefined;
  for (const k of Object.keys(env)) {
    if (k.toUpperCase() !== PASSWORD_ENV) continue;
    if (value === undefined || k === PASSWORD_ENV) value = env[k];
    delete env[k];
  }
  return value === undefined ? {} : { [PASSWORD_ENV]: value };
}
