/**
 * The command line and environment handling the A/B tools share (serving-zipf-ab.ts,
 * serving-routing-ab.ts): `<rounds> <label>=<ENV:VALUE,ENV:VALUE> [<label>=...]`.
 */

export interface AbVariant {
  label: string;
  env: Record<string, string>;
}

/** Rounds and variants from argv (after the script), or a usage error naming `script`. */
export function parseAbArgs(argv: readonly string[], script: string): { rounds: number; variants: AbVariant[] } {
  const rounds = Number(argv[0] ?? 4);
  const variants = argv.slice(1).map((arg) => {
    const [label, envs = ''] = arg.split('=');
    return { label, env: Object.fromEntries(envs.split(',').filter(Boolean).map((kv) => kv.split(':') as [string, string])) };
  });
  if (!(rounds > 0) || variants.length === 0) throw new Error(`usage: ${script} <rounds> <label>=<ENV:VALUE,...> ...`);
  return { rounds, variants };
}

/**
 * Runs `boot` with `env` set in process.env and restores it afterwards: switches read when a
 * service or its worker threads are made take the variant's values, and later variants start clean.
 */
export async function withEnv<T>(env: Record<string, string>, boot: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await boot();
  } finally {
    for (const [k, old] of Object.entries(saved)) {
      if (old === undefined) delete process.env[k];
      else process.env[k] = old;
    }
  }
}
