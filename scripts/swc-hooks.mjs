/**
 * Node module hooks that run TypeScript sources through SWC with the project's .swcrc settings
 * (legacy decorators + decorator metadata), registered by swc-register.mjs. tsx (esbuild) emits
 * no `design:paramtypes`, so under tsx Nest's ValidationPipe never sees the DTO classes and skips
 * validation: scripts that boot the app and judge its HTTP answers (bench:reliability) need this.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from '@swc/core';

const swcrc = JSON.parse(await readFile(new URL('../.swcrc', import.meta.url), 'utf8'));

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (error) {
    // NodeNext sources import './x.js' meaning './x.ts'.
    if (error?.code === 'ERR_MODULE_NOT_FOUND' && /^\.{1,2}\//.test(specifier) && specifier.endsWith('.js')) {
      return next(`${specifier.slice(0, -3)}.ts`, context);
    }
    throw error;
  }
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !/\.m?ts$/.test(url) || url.includes('/node_modules/')) return next(url, context);
  const filename = fileURLToPath(url);
  const source = await readFile(filename, 'utf8');
  const out = await transform(source, { ...swcrc, filename, sourceMaps: 'inline', module: { type: 'es6' }, swcrc: false });
  return { format: 'module', source: out.code, shortCircuit: true };
}
