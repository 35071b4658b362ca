/** Table, SVG plot and docs/benchmarks.md section of the unlearning benchmark. */
import type { BenchDetails, StepRow } from './unlearning-bench.js';

const pct = (x: number | null) => (x === null || Number.isNaN(x) ? '–' : (100 * x).toFixed(1));
const num = (x: number | null, d = 3) => (x === null || Number.isNaN(x) ? '–' : x.toFixed(d));

/** A markdown table of every row (or only `step`'s rows). */
export function markdownTable(rows: StepRow[], step?: number): string {
  const head = '| step | method | S.U. % | D.U. % | R.D. % | utility % | R.D./base | utility/base | AUROC | gate recall % | false fire % | s/request | KB/request |';
  const sep = '|' + ' --- |'.repeat(13);
  const lines = rows
    .filter((r) => step === undefined || r.step === step)
    .map((r) => `| ${r.step} | ${r.method} | ${pct(r.su)} | ${pct(r.du)} | ${pct(r.rd)} | ${pct(r.utility)} | ${num(r.rdRatio)} | ${num(r.utilityRatio)} | ${num(r.auroc)} | ${pct(r.gateRecall)} | ${pct(r.falseFireRate)} | ${num(r.seconds, 1)} | ${(r.bytes / 1024).toFixed(0)} |`);
  return [head, sep, ...lines].join('\n');
}

const COLORS: Record<string, string> = {
  base: '#555555',
  lethe: '#d62728',
  'always-on': '#1f77b4',
  'lambda-0': '#ff7f0e',
  'o3-shared': '#2ca02c',
  'gradient-ascent': '#9467bd',
  'lethe-cel': '#8c564b',
};

/** Two panels (R.D. and D.U. over the steps), one line per method, as a standalone SVG. */
export function plotSvg(rows: StepRow[]): string {
  const methods = [...new Set(rows.map((r) => r.method))];
  const steps = [...new Set(rows.map((r) => r.step))].sort((a, b) => a - b);
  const W = 360;
  const H = 220;
  const pad = { l: 44, r: 10, t: 28, b: 34 };
  const panel = (key: 'rd' | 'du', title: string, x0: number): string => {
    const sx = (s: number) => x0 + pad.l + ((s - steps[0]) / Math.max(1, steps[steps.length - 1] - steps[0])) * (W - pad.l - pad.r);
    const sy = (v: number) => pad.t + (1 - v) * (H - pad.t - pad.b);
    const grid = [0, 0.25, 0.5, 0.75, 1]
      .map((v) => `<line x1="${x0 + pad.l}" x2="${x0 + W - pad.r}" y1="${sy(v)}" y2="${sy(v)}" stroke="#ddd"/><text x="${x0 + pad.l - 6}" y="${sy(v) + 4}" text-anchor="end" font-size="10">${(v * 100).toFixed(0)}%</text>`)
      .join('');
    const ticks = steps.map((s) => `<text x="${sx(s)}" y="${H - pad.b + 14}" text-anchor="middle" font-size="10">${s}</text>`).join('');
    const lines = methods
      .map((m) => {
        const pts = rows.filter((r) => r.method === m).sort((a, b) => a.step - b.step).map((r) => `${sx(r.step).toFixed(1)},${sy(r[key]).toFixed(1)}`);
        const dash = m === 'lethe' ? '' : ' stroke-dasharray="4 2"';
        return `<polyline fill="none" stroke="${COLORS[m] ?? '#000'}" stroke-width="${m === 'lethe' ? 2.5 : 1.5}"${dash} points="${pts.join(' ')}"/>`;
      })
      .join('');
    return `<text x="${x0 + W / 2}" y="16" text-anchor="middle" font-size="12" font-weight="bold">${title}</text>${grid}${ticks}<text x="${x0 + W / 2}" y="${H - 4}" text-anchor="middle" font-size="10">request (step)</text>${lines}`;
  };
  const legend = methods
    .map((m, i) => `<rect x="${10 + i * 100}" y="${H + 6}" width="12" height="4" fill="${COLORS[m] ?? '#000'}"/><text x="${26 + i * 100}" y="${H + 12}" font-size="10">${m}</text>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 24}" font-family="sans-serif">${panel('rd', 'R.D. (retained authors, higher is better)', 0)}${panel('du', 'D.U. (forget paraphrases, lower is better)', W)}${legend}</svg>\n`;
}

/** The `unlearning` section of docs/benchmarks.md. */
export function docsSection(rows: StepRow[], details: BenchDetails, meta: { date: string; backend: string; command: string; svgPath: string }): string {
  const last = Math.max(...rows.map((r) => r.step));
  const l = rows.find((r) => r.method === 'lethe' && r.step === last);
  const target = (name: string, v: number | null | undefined, ok: (x: number) => boolean, goal: string) =>
    `| ${name} | ${v === null || v === undefined ? '–' : v.toFixed(3)} | ${goal} | ${v !== null && v !== undefined && ok(v) ? 'met' : 'missed'} |`;
  return [
    `## Unlearning (issue 4)`,
    ``,
    `\`${meta.command}\` on ${meta.date}, backend ${meta.backend}, ${details.config.requests} sequential requests of ${details.config.authorsPerRequest} authors ` +
      `(${details.groups[0]?.forgetItems ?? 0} forget items = ${(details.groups[0]?.forgetItems ?? 0) / 3} facts × 3 trained phrasings each), ${details.config.epochs} epochs, ` +
      `${details.config.retainedItems} retained-author and ${details.config.utilityItems} utility items; whole run ${details.totalSeconds.toFixed(0)} s. Raw numbers: ` +
      `\`bench-results/unlearning.json\` (issue shape) and \`bench-results/unlearning-details.json\` (per request, pipeline metrics).`,
    ``,
    `S.U./D.U. pool every request so far (forget items as trained / held-out paraphrases); AUROC is the mean over requests of each detector's AUROC ` +
      `(its paraphrases vs retained + utility prompts); gate recall counts paraphrases whose own adapter is applied at ≥ 0.5, false fire counts retained + utility ` +
      `prompts where any adapter is. Methods: \`lethe\` (one adapter per request, L_orth λ = 0.1, training-free detector, o3-hard gate), \`always-on\` (the same ` +
      `adapters, no gate), \`lambda-0\` (λ = 0), \`o3-shared\` (one adapter resumed per request, strength = max of the gates), \`gradient-ascent\` (−CE on the ` +
      `true answers, always on), \`lethe-cel\` (Lethe's adapters, detectors with CEL heads).`,
    ``,
    `### After request ${last}`,
    ``,
    markdownTable(rows, last),
    ``,
    `### Targets for \`lethe\` after request ${last}`,
    ``,
    `| metric | measured | target | |`,
    `| --- | --- | --- | --- |`,
    target('S.U.', l?.su, (x) => x <= 0.05, '≤ 0.05'),
    target('D.U.', l?.du, (x) => x <= 0.1, '≤ 0.10'),
    target('R.D. / base', l?.rdRatio, (x) => x >= 0.95, '≥ 0.95'),
    target('utility / base', l?.utilityRatio, (x) => x >= 0.97, '≥ 0.97'),
    target('AUROC', l?.auroc, (x) => x >= 0.97, '≥ 0.97'),
    target('seconds per request', l?.seconds, (x) => x <= 60, '≤ 60'),
    ``,
    `### R.D. and D.U. over the requests`,
    ``,
    `![R.D. and D.U. per method over the requests](${meta.svgPath})`,
    ``,
    `### Every step`,
    ``,
    markdownTable(rows),
    ``,
  ].join('\n');
}

/** Replaces (or appends) the `<!-- section:unlearning -->` block of a markdown file's text. */
export function replaceSection(text: string, body: string, name = 'unlearning'): string {
  const open = `<!-- section:${name} -->`;
  const close = `<!-- /section:${name} -->`;
  const block = `${open}\n${body.trim()}\n${close}`;
  const a = text.indexOf(open);
  const b = text.indexOf(close);
  if (a >= 0 && b > a) return text.slice(0, a) + block + text.slice(b + close.length);
  return `${text.trimEnd()}${text.trim() ? '\n\n' : ''}${block}\n`;
}
