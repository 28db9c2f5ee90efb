declare const OSDCAST_VERSION: string;

/** The package version, set by the build (esbuild `define`); 0.0.0-dev when run from source (tests). */
export const VERSION = typeof OSDCAST_VERSION === 'string' ? OSDCAST_VERSION : '0.0.0-dev';

/** The User-Agent of every HTTP(S) request (content, WebDAV listing, --sha256-url). */
export const USER_AGENT = `osdcast/${VERSION}`;

/** What --version prints and the first log line says. */
export const VERSION_LINE = `osdcast ${VERSION} (node ${process.version})`;
