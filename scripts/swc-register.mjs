// `node --import ./scripts/swc-register.mjs x.ts`: TypeScript through SWC with decorator metadata (see swc-hooks.mjs).
import { register } from 'node:module';

register('./swc-hooks.mjs', import.meta.url);
