/**
 * What a compose generator file says about itself, read from its safetensors header only (no
 * dequantising): the parts it has seen, its seen tasks and the caller's metadata (`extra.modelKey`:
 * the weights it was trained against). Used to register the generator shipped with the model.
 */
import { createHash } from 'node:crypto';
import { parseSafetensors } from '../../engine/safetensors.js';
import { COMPOSE_GENERATOR_FORMAT, COMPOSE_GENERATOR_FORMAT_VERSION } from '../../icm/compose-generator-io.js';

/** The file name of the generator shipped in a model directory. */
export const SHIPPED_COMPOSE_GENERATOR_FILE = 'icm-compose-generator.safetensors';

export interface ComposeFileInfo {
  mappings: string[];
  templates: string[];
  /** Seen tasks (`mapping/template` in bench:icm's files). */
  tasks: string[];
  /** What the file stores: every seen task (`tasks`) or part pieces (`parts`). */
  store: 'parts' | 'tasks';
  /** Residual pieces (each seen task keeps its coefficients on them). */
  residualPieces: number;
  rank: number;
  bits: number | string;
  extra: Record<string, string>;
}

/** True when `bytes` is a compose generator file (any format version). */
export function isComposeGeneratorFile(bytes: Uint8Array): boolean {
  try {
    return parseSafetensors(bytes, { dtypes: ['F32', 'F16', 'U8'] }).metadata.format === COMPOSE_GENERATOR_FORMAT;
  } catch {
    return false;
  }
}

/** The file's self-description; throws when it is not a compose generator this build reads. */
export function readComposeFileInfo(bytes: Uint8Array): ComposeFileInfo {
  const meta = parseSafetensors(bytes, { dtypes: ['F32', 'F16', 'U8'] }).metadata;
  if (meta.format !== COMPOSE_GENERATOR_FORMAT) throw new Error(`not a Lethe compose generator (format "${meta.format ?? ''}")`);
  if (Number(meta.formatVersion) !== COMPOSE_GENERATOR_FORMAT_VERSION) {
    throw new Error(`compose generator format version ${meta.formatVersion} is not supported (this build reads ${COMPOSE_GENERATOR_FORMAT_VERSION})`);
  }
  const pieces = JSON.parse(meta.pieces ?? '[]') as string[];
  const after = (prefix: string) => pieces.filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length));
  const config = JSON.parse(meta.config ?? '{}') as { rank?: number; bits?: number | string; store?: string };
  // The tasks store keeps every seen task (its parts in `seen`), the parts store one piece per part.
  const seen = JSON.parse(meta.seen ?? '[]') as { mapping: string; template: string }[];
  const tasksStore = config.store === 'tasks';
  return {
    mappings: tasksStore ? [...new Set(seen.map((s) => s.mapping))] : after('mapping:'),
    templates: tasksStore ? [...new Set(seen.map((s) => s.template))] : after('template:'),
    tasks: JSON.parse(meta.tasks ?? '[]') as string[],
    store: tasksStore ? 'tasks' : 'parts',
    residualPieces: after('residual:').length,
    rank: Number(config.rank),
    bits: config.bits ?? 'unknown',
    extra: JSON.parse(meta.extra ?? '{}') as Record<string, string>,
  };
}

/** The model key generator files carry (`extra.modelKey`): the first 16 hex digits of sha256(model.safetensors). */
export function modelKeyOf(modelWeights: Uint8Array): string {
  return createHash('sha256').update(modelWeights).digest('hex').slice(0, 16);
}
