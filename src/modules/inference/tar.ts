/**
 * A minimal POSIX ustar writer for adapter exports: `tar -x` (GNU, BSD, Python's tarfile) unpacks it
 * into a folder PEFT loads with `PeftModel.from_pretrained(model, folder)`. Regular files only,
 * fixed mode/mtime so the same adapter always exports the same bytes.
 */

export interface TarFile {
  /** Plain file name (no folders, no `..`), at most 100 bytes. */
  name: string;
  data: Uint8Array;
}

const BLOCK = 512;

/** Packs files into a tar archive (ending with the two zero blocks). */
export function createTar(files: readonly TarFile[], mtimeSeconds = 0): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of files) {
    if (!/^[\w.-]+$/.test(f.name) || f.name.startsWith('.') || Buffer.byteLength(f.name) > 100) throw new Error(`tar: bad file name "${f.name}"`);
    parts.push(header(f.name, f.data.length, mtimeSeconds), f.data, new Uint8Array((BLOCK - (f.data.length % BLOCK)) % BLOCK));
  }
  parts.push(new Uint8Array(2 * BLOCK));
  return Buffer.concat(parts);
}

function header(name: string, size: number, mtime: number): Uint8Array {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(0o644, 8), 100); // mode
  h.write(octal(0, 8), 108); // uid
  h.write(octal(0, 8), 116); // gid
  h.write(octal(size, 12), 124);
  h.write(octal(mtime, 12), 136);
  h.fill(' ', 148, 156); // checksum computed with spaces here
  h.write('0', 156); // regular file
  h.write('ustar\u0000', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148);
  return h;
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\u0000`;
}

/** Reads back the files of a tar made by {@link createTar} (tests, round trips). */
export function readTar(tar: Uint8Array): TarFile[] {
  const out: TarFile[] = [];
  const buf = Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength);
  let off = 0;
  while (off + BLOCK <= buf.length) {
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break;
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim(), 8);
    off += BLOCK;
    out.push({ name, data: new Uint8Array(buf.subarray(off, off + size)) });
    off += Math.ceil(size / BLOCK) * BLOCK;
  }
  return out;
}
