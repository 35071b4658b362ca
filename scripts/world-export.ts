/** `npm run world:export`: writes the seeded demo world to models/demo/world.json. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { generateWorld, paraphraseItems, trainedItems, utilityItems, heldOutAuthorItems } from '../src/bench/world.js';

const out = process.argv[2] ?? 'models/demo/world.json';
const world = generateWorld();
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(world));
console.log(
  `${out}: seed ${world.seed}, ${world.authors.length} authors, trained ${trainedItems(world).length}, ` +
    `paraphrase ${paraphraseItems(world).length}, held-out ${heldOutAuthorItems(world).length}, utility ${utilityItems(world).length}`,
);
