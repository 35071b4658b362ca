/** Table and docs/benchmarks.md section of the request-shape suite (unlearning-shapes.ts). */
import type { ShapeMetrics, ShapeResult, ShapeSuiteConfig } from './unlearning-shapes.js';

const num = (x: number | null | undefined, d = 3) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d));

/** One row per shape × method, issue 11's keys. */
export function shapesTable(results: Record<string, ShapeResult>): string {
  const head = '| shape | method | leak request | leak paraphrase | leak new templates | retained | same-author retained | utility | degenerate | AUROC other authors | false fire other authors | s/request | checks passed |';
  const sep = '|' + ' --- |'.repeat(13);
  const lines = Object.entries(results).flatMap(([shape, r]) =>
    Object.entries(r.methods).map(([method, m]) => {
      const x = m as ShapeMetrics;
      return `| ${shape} | ${method} | ${num(x.leakRequest)} | ${num(x.leakParaphrase)} | ${num(x.leakNewTemplates)} | ${num(x.retained)} | ${num(x.sameAuthorRetained)} | ${num(x.utility)} | ${num(x.degenerate)} | ${num(x.aurocOtherAuthors)} | ${num(x.falseFireOtherAuthors)} | ${num(x.seconds, 1)} | ${x.activated ?? '–'}/${r.requests.length} |`;
    }),
  );
  return [head, sep, ...lines].join('\n');
}

/** Which of issue 11's targets `lethe` meets on each shape (and `always-on` retained). */
export function shapeTargets(results: Record<string, ShapeResult>): { shape: string; target: string; value: number | null; met: boolean }[] {
  const out: { shape: string; target: string; value: number | null; met: boolean }[] = [];
  const add = (shape: string, target: string, value: number | null | undefined, ok: (x: number) => boolean) =>
    out.push({ shape, target, value: value ?? null, met: value !== null && value !== undefined && ok(value) });
  for (const [shape, r] of Object.entries(results)) {
    const l = r.methods.lethe;
    if (l) {
      if (shape === 'one-fact') {
        add(shape, 'leak paraphrase ≤ 0.20', l.leakParaphrase, (x) => x <= 0.2);
        add(shape, 'leak new templates ≤ 0.20', l.leakNewTemplates, (x) => x <= 0.2);
      } else {
        add(shape, 'leak request ≤ 0.05', l.leakRequest, (x) => x <= 0.05);
        add(shape, 'leak paraphrase ≤ 0.10', l.leakParaphrase, (x) => x <= 0.1);
        add(shape, 'leak new templates ≤ 0.10', l.leakNewTemplates, (x) => x <= 0.1);
        add(shape, 'utility ≥ 0.97', l.utility, (x) => x >= 0.97);
        add(shape, 'degenerate = 0', l.degenerate, (x) => x === 0);
      }
      add(shape, 'retained ≥ 0.97', l.retained, (x) => x >= 0.97);
      if (l.sameAuthorRetained !== undefined) add(shape, 'same-author retained ≥ 0.90', l.sameAuthorRetained, (x) => x >= 0.9);
      if (r.requests.every((q) => q.items <= 30)) add(shape, 's/request ≤ 30', l.seconds, (x) => x <= 30);
    }
    const a = r.methods['always-on'];
    if (a) add(shape, 'always-on retained ≥ 0.80', a.retained, (x) => x >= 0.8);
  }
  return out;
}

/** The `unlearning-shapes` section of docs/benchmarks.md. */
export function shapesSection(results: Record<string, ShapeResult>, meta: { date: string; backend: string; command: string; seconds: number; config: ShapeSuiteConfig }): string {
  const targets = shapeTargets(results);
  const missed = targets.filter((t) => !t.met);
  const revoke = Object.entries(results).filter(([, r]) => r.revokeFirst);
  return [
    `## Unlearning on the requests people send (issue 11)`,
    ``,
    `\`${meta.command}\` on ${meta.date}, backend ${meta.backend}, ${meta.config.requests} sequential requests per shape, whole suite ${meta.seconds.toFixed(0)} s. ` +
      `Metrics after the last request, each counted only over items the base model answers right: leak = share of forgotten facts still answered ` +
      `(request prompts; the world's paraphrase phrasing; two new phrasings per fact type that no template produces and the model never saw); ` +
      `retained = other authors' trained and paraphrase questions; degenerate = answers that are neither right, nor a refusal, nor any item's answer. ` +
      `Near-negatives take names and templates from reference prompts about authors 50–99; retained is measured on authors 10–49, which the pipeline never sees. ` +
      `Methods: \`lethe\` (one adapter per request, λ = 0.1, near-negatives, entity + feature gate), \`always-on\` (lethe's adapters, no gate), ` +
      `\`lambda-0\` (λ = 0), \`o3-shared\` (one adapter resumed per request, strength = max of the gates), \`no-near-negatives\` (lethe without ` +
      `near-negatives, found phrasings or entity gates: the recipe before issue 11).`,
    ``,
    shapesTable(results),
    ``,
    ...(revoke.length > 0
      ? [
          `Revoking the first of the overlapping requests (the others stay): share of its facts answered again / of the other requests' facts answered.`,
          ``,
          `| method | its facts answered again | others' facts answered |`,
          `| --- | --- | --- |`,
          ...revoke.flatMap(([, r]) => Object.entries(r.revokeFirst!).map(([m, v]) => `| ${m} | ${num(v!.leakRevokedFacts)} | ${num(v!.leakOtherFacts)} |`)),
          ``,
        ]
      : []),
    `Targets: ${targets.length - missed.length} of ${targets.length} met.${missed.length > 0 ? ' Missed:' : ''}`,
    ``,
    ...missed.map((t) => `- ${t.shape}: ${t.target} (measured ${num(t.value)})`),
    ``,
  ].join('\n');
}
