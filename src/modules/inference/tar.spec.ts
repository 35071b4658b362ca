import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTar, readTar } from './tar.js';

describe('createTar', () => {
  const files = [
    { name: 'adapter_config.json', data: Buffer.from('{"r": 4}\n') },
    { name: 'adapter_model.safetensors', data: new Uint8Array(1500).map((_, i) => i % 251) },
  ];

  it('round-trips through readTar and is deterministic', () => {
    const sut = createTar(files);
    expect(sut.length % 512).toBe(0);
    expect(readTar(sut).map((f) => [f.name, Buffer.from(f.data).toString('hex')])).toEqual(files.map((f) => [f.name, Buffer.from(f.data).toString('hex')]));
    expect(Buffer.from(createTar(files)).equals(Buffer.from(sut))).toBe(true);
  });

  it('is unpacked by the system tar', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lethe-tar-'));
    try {
      await writeFile(join(dir, 'a.tar'), createTar(files));
      execFileSync('tar', ['-xf', 'a.tar'], { cwd: dir });
      expect(await readFile(join(dir, 'adapter_config.json'), 'utf8')).toBe('{"r": 4}\n');
      expect(Buffer.from(await readFile(join(dir, 'adapter_model.safetensors'))).equals(Buffer.from(files[1].data))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses names with folders or path tricks', () => {
    for (const name of ['../x', 'a/b', '.hidden', '']) expect(() => createTar([{ name, data: new Uint8Array() }])).toThrow(/bad file name/);
  });
});
