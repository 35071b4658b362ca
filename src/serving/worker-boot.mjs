// Starts a TypeScript worker entry when Lethe runs from source (vitest, tsx): registers tsx's
// loader in this thread, then imports the entry. The built service starts the .js entry directly.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
