import type { UnlearningProgress } from '../api/types.js';

/** One progress bar: a label and a fraction in [0, 1] (undefined = indeterminate). */
export interface ProgressBar {
  label: string;
  fraction: number | undefined;
  note?: string;
}

const clamp = (v: number) => Math.min(1, Math.max(0, v));

function fromObject(label: string, o: Record<string, unknown>): ProgressBar | undefined {
  const num = (k: string) => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? (o[k] as number) : undefined);
  const name = typeof o.phase === 'string' ? o.phase : typeof o.stage === 'string' ? o.stage : typeof o.name === 'string' ? o.name : label;
  const step = num('step') ?? num('done') ?? num('current');
  const total = num('total');
  const fraction = num('fraction') ?? (num('percent') !== undefined ? num('percent')! / 100 : undefined) ?? (step !== undefined && total ? step / total : undefined);
  const notes: string[] = [];
  if (step !== undefined && total !== undefined) notes.push(`${step} / ${total}`);
  if (num('loss') !== undefined) notes.push(`loss ${num('loss')!.toPrecision(4)}`);
  if (num('etaSeconds') !== undefined) notes.push(`about ${Math.ceil(num('etaSeconds')!)} s left`);
  if (typeof o.state === 'string') notes.push(o.state);
  if (typeof o.message === 'string') notes.push(o.message);
  if (fraction === undefined && step === undefined && notes.length === 0) return undefined;
  return { label: name, fraction: fraction === undefined ? undefined : clamp(fraction), note: notes.join(' · ') || undefined };
}

/**
 * Reads the progress of an unlearning request in any of the shapes a job reports: a fraction,
 * a percentage, `{ phase, step, total, loss, etaSeconds }`, a list of those, or a map of phase →
 * one of those.
 */
export function toProgressBars(progress: unknown, label = 'progress'): ProgressBar[] {
  if (typeof progress === 'number' && Number.isFinite(progress)) return [{ label, fraction: clamp(progress > 1 ? progress / 100 : progress) }];
  if (Array.isArray(progress)) return progress.flatMap((p, i) => toProgressBars(p, `${label} ${i + 1}`));
  if (progress && typeof progress === 'object') {
    const o = progress as Record<string, unknown>;
    const own = fromObject(label, o);
    if (own) return [own];
    return Object.entries(o).flatMap(([k, v]) => (v && (typeof v === 'object' || typeof v === 'number') ? toProgressBars(v, k) : []));
  }
  return [];
}

/** Merges bars by label (later ones win), keeping first-seen order. */
export function mergeBars(prev: ProgressBar[], next: ProgressBar[]): ProgressBar[] {
  const out = [...prev];
  for (const b of next) {
    const i = out.findIndex((p) => p.label === b.label);
    if (i >= 0) out[i] = b;
    else out.push(b);
  }
  return out;
}

/** The phases of an unlearning job, in order (src/unlearning/pipeline.ts). */
export const UNLEARNING_PHASES = ['relabel', 'training', 'calibrating', 'evaluating'] as const;

/**
 * One bar per job phase from a request's stored progress: phases before the current one are
 * full, the current one shows its step / total (or is indeterminate), later ones are empty; a
 * finished job (`done`) is full everywhere. Failed or revoked requests keep their last numbers
 * in one bar, since the stored record no longer says which phase stopped.
 */
export function unlearningBars(p: UnlearningProgress | null | undefined, status: string): ProgressBar[] {
  const phase = p?.phase ?? '';
  if (phase === 'failed' || phase === 'revoked' || status === 'failed' || status === 'revoked') {
    return toProgressBars({ ...p, phase: phase || status }, status);
  }
  // needs_review: the job ran to its end; its checks failed, which the detail page shows.
  const done = phase === 'done' || phase === 'needs_review' || status === 'active' || status === 'needs_review';
  const current = UNLEARNING_PHASES.indexOf(phase as (typeof UNLEARNING_PHASES)[number]);
  const steps = p?.step !== undefined && p.total ? `${p.step} / ${p.total}` : undefined;
  return UNLEARNING_PHASES.map((name, i) => {
    const notes: string[] = [];
    if (name === 'training' && (done || i <= current) && steps) notes.push(`${steps} steps`);
    if (name === 'training' && p?.loss !== undefined && (done || i === current)) notes.push(`loss ${p.loss.toPrecision(4)}`);
    if (!done && i === current && p?.etaSeconds) notes.push(`about ${Math.ceil(p.etaSeconds)} s left`);
    if (!done && i === current && p?.message) notes.push(p.message);
    if (!done && i === 0 && current < 0 && phase === 'retry') notes.push(`retry${p?.attempt ? ` (attempt ${p.attempt})` : ''}${p?.message ? `: ${p.message}` : ''}`);
    let fraction: number | undefined;
    if (done || i < current) fraction = 1;
    else if (i > current) fraction = 0;
    else fraction = name === 'training' && p?.step !== undefined && p.total ? clamp(p.step / p.total) : undefined;
    return { label: name, fraction, ...(notes.length ? { note: notes.join(' · ') } : {}) };
  });
}

/** The whole job as one bar (request lists): the mean of the phase bars, labelled by phase. */
export function unlearningOverall(p: UnlearningProgress | null | undefined, status: string): ProgressBar {
  const bars = unlearningBars(p, status);
  if (bars.length === 1) return bars[0]!;
  const fraction = bars.reduce((s, b) => s + (b.fraction ?? 0), 0) / bars.length;
  const label = status === 'active' ? 'done' : status === 'needs_review' ? 'needs review' : p?.phase && p.phase !== 'retry' ? p.phase : status;
  const note = bars.find((b) => b.label === label)?.note;
  return { label, fraction, ...(note ? { note } : {}) };
}
