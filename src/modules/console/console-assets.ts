import { existsSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of the built console (`web/dist`, made by `npm run build`): found from this file
 * upwards, so it works from src/ (tests, tsx) and from dist/src/ (npm start) alike.
 */
export function findConsoleDist(start = dirname(fileURLToPath(import.meta.url))): string | undefined {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) {
      const dist = join(dir, 'web', 'dist');
      return existsSync(join(dist, 'index.html')) ? dist : undefined;
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/**
 * The file under `root` that `segments` name, or undefined when it would leave `root`, names a
 * dotfile, or does not exist.
 */
export function resolveAsset(root: string, segments: readonly string[]): string | undefined {
  if (segments.some((s) => s === '' || s.startsWith('.') || s.includes('\\') || s.includes('\0'))) return undefined;
  const file = resolve(root, ...segments);
  if (!file.startsWith(resolve(root) + sep)) return undefined;
  return existsSync(file) ? file : undefined;
}
