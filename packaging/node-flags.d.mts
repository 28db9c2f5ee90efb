/** Types of node-flags.mjs, for the TypeScript that imports it (the bench and the tests). */
export declare const SEA_EXEC_ARGV: string[];
