/** `npm run tokenizer:build`: trains the demo BPE tokenizer on the world, writes models/demo/tokenizer.json. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tokenizerConfig, trainByteLevelBpe } from '../src/bench/tokenizer-builder.js';
import { tokenizerCorpus } from '../src/bench/world-corpus.js';
import { generateWorld } from '../src/bench/world.js';

export const DEMO_VOCAB_SIZE = 2048;

const dir = process.argv[2] ?? 'models/demo';
const started = Date.now();
const tok = trainByteLevelBpe(tokenizerCorpus(generateWorld()), DEMO_VOCAB_SIZE);
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok));
writeFileSync(join(dir, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfig(), null, 2)}\n`);
console.log(`${dir}/tokenizer.json: ${Object.keys(tok.model.vocab).length} tokens, ${tok.model.merges.length} merges, ${Date.now() - started} ms`);
