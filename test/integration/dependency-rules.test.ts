/**
 * The dependency rules (.dependency-cruiser.cjs; `npm test` runs `npm run lint:deps` on the
 * repository before vitest) catch each kind of violation: a small tree with one of each must fail
 * with every rule named, so a rule that silently matches nothing cannot pass for a clean layout.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const DEPCRUISE = join(ROOT, 'node_modules/.bin/depcruise');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');

const VIOLATIONS: Record<string, string> = {
  'src/engine/a.ts': "import { Injectable } from '@nestjs/common';\nimport type { B } from './b.js';\nexport const a = Injectable;\nexport type A = B;\n",
  'src/engine/b.ts': "import type { A } from './a.js';\nexport type B = A | number;\n",
  'src/icm/c.ts': "import { DataSource } from 'typeorm';\nimport pg from 'pg';\nexport const c = [DataSource, pg];\n",
  'src/serving/d.ts': "import { w } from '../bench/w.js';\nexport const d = w;\n",
  'test/e.test.ts': "import { w } from '../src/bench/w.js';\nexport const e = w;\n",
  'src/bench/w.ts': 'export const w = 1;\n',
  'scripts/f.ts': "import { w } from '../src/bench/w.js';\nexport const f = w;\n",
};

describe('dependency rules (dependency-cruiser)', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a tree with one of each violation fails on every rule, and scripts may use src/bench', async () => {
    await mkdir(join(ROOT, 'test-artifacts'), { recursive: true });
    dir = await mkdtemp(join(ROOT, 'test-artifacts', 'depcruise-'));
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
    for (const [file, text] of Object.entries(VIOLATIONS)) {
      await mkdir(dirname(join(dir, file)), { recursive: true });
      await writeFile(join(dir, file), text);
    }
    const failed = await run(DEPCRUISE, ['src', 'test', 'scripts', '--config', CONFIG, '--output-type', 'err'], { cwd: dir }).then(
      () => null,
      (e: { code: number; stdout: string }) => e,
    );
    expect(failed?.code).toBeGreaterThan(0);
    const out = failed!.stdout;
    expect(out).toMatch(/no-circular: src\/engine\/(a|b)\.ts/);
    expect(out).toMatch(/framework-free-core: src\/engine\/a\.ts → .*@nestjs\/common/);
    expect(out).toMatch(/framework-free-core: src\/icm\/c\.ts → .*typeorm/);
    expect(out).toMatch(/framework-free-core: src\/icm\/c\.ts → .*pg\//);
    expect(out).toMatch(/no-bench-in-product: src\/serving\/d\.ts → src\/bench\/w\.ts/);
    expect(out).toMatch(/no-bench-in-product: test\/e\.test\.ts → src\/bench\/w\.ts/);
    expect(out).not.toMatch(/scripts\/f\.ts/);
  });
});
