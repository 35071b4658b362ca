/**
 * Table, docs section and SVG plot of `bench:unlearning -- --long` (unlearning-long.ts), all from
 * the same result object the JSON is written from.
 */
import type { LongResult, LongStep } from './unlearning-long.js';

const TARGETS = { leak: 0.1, retained: 0.95, utility: 0.97, falseFire: 0.03, routingCost: 0.1, restored: 0.9 };

function fmt(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits);
}

export function longTable(r: LongResult): string {
  const head = ['requests', 'leak req', 'leak para', 'leak new', 'retained', 'retained unseen', 'utility', 'false fires', 'routing cost (bank)', 'routing cost (per detector)', 'scoring (bank)', 'scoring (per detector)', 'MB stored', 's/request', 'activated', 'always-on retained', 'always-on leak para'];
  const row = (s: LongStep) => [
    String(s.requests),
    fmt(s.leakRequest),
    fmt(s.leakParaphrase),
    fmt(s.leakNewTemplates),
    fmt(s.retained),
    fmt(s.retainedUnseen),
    fmt(s.utility),
    fmt(s.falseFire),
    fmt(s.routingCost),
    fmt(s.routingCostPerDetector),
    fmt(s.scoringCost, 4),
    fmt(s.scoringCostPerDetector, 4),
    (s.bytes / 1e6).toFixed(2),
    s.seconds.toFixed(1),
    `${s.activated}/${s.requests}`,
    fmt(s.alwaysOn.retained),
    fmt(s.alwaysOn.leakParaphrase),
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...r.steps.map((s) => `| ${row(s).join(' | ')} |`)];
  const revokes = r.revoke.perRequest.map((p) => `request ${p.request}: restored ${fmt(p.restored)}, other answers changed ${fmt(p.othersChanged)}`).join('; ');
  return `${lines.join('\n')}\n\nRevoke after the last request — ${revokes || 'none'}.`;
}

/** Which of issue 16's targets the last step meets. */
export function longVerdicts(r: LongResult): { name: string; value: number | null; target: string; met: boolean }[] {
  const s = r.steps[r.steps.length - 1];
  const le = (v: number | null, t: number) => v !== null && v <= t;
  const ge = (v: number | null, t: number) => v !== null && v >= t;
  return [
    { name: 'leak on paraphrases', value: s.leakParaphrase, target: `≤ ${TARGETS.leak}`, met: le(s.leakParaphrase, TARGETS.leak) },
    { name: 'leak on new templates', value: s.leakNewTemplates, target: `≤ ${TARGETS.leak}`, met: le(s.leakNewTemplates, TARGETS.leak) },
    { name: 'retained', value: s.retained, target: `≥ ${TARGETS.retained}`, met: ge(s.retained, TARGETS.retained) },
    { name: 'utility', value: s.utility, target: `≥ ${TARGETS.utility}`, met: ge(s.utility, TARGETS.utility) },
    { name: 'false fires on retained', value: s.falseFire, target: `≤ ${TARGETS.falseFire}`, met: le(s.falseFire, TARGETS.falseFire) },
    { name: 'routing cost (bank)', value: s.routingCost, target: `≤ ${TARGETS.routingCost}`, met: le(s.routingCost, TARGETS.routingCost) },
    { name: 'revoke restores its facts (worst)', value: r.revoke.restored, target: `≥ ${TARGETS.restored}`, met: ge(r.revoke.restored, TARGETS.restored) },
    { name: 'revoke changes other answers (worst)', value: r.revoke.othersChanged, target: '= 0', met: r.revoke.othersChanged === 0 },
  ];
}

export function longSection(r: LongResult, meta: { date: string; backend: string; command: string; seconds: number; svgPath: string }): string {
  const s = r.steps[r.steps.length - 1];
  const verdicts = longVerdicts(r)
    .map((v) => `| ${v.name} | ${fmt(v.value)} | ${v.target} | ${v.met ? 'met' : 'missed'} |`)
    .join('\n');
  return `## Continual forgetting at scale (\`${meta.command}\`)

${meta.date}, backend ${meta.backend}, ${(meta.seconds / 60).toFixed(1)} min in all. ${r.config.requests} sequential \`one-author-once\` requests on the demo world (one author each, every fact asked once), each trained beside the adapters already deployed; authors 50–99 are never forgotten (retained, ${r.config.retainedItems} questions; \`retained unseen\` = authors 50–74, whom no reference prompt names). Leak sets are up to ${r.config.forgetItems} evenly spaced items over every request so far. Routing cost = (routed request − base request) / base request for prompts no gate fires on (most traffic), one prompt at a time, up to ${r.config.maxTokens} tokens, each prompt's fastest of 5 alternating runs per side (a shared machine slows single runs at random), median over ${r.config.timingPrompts} prompts; the feature pass skips pooling as the service's does: the routed request runs the base feature pass keeping its prefill, scores every active detector, and decodes from that prefill as the service does (answers checked identical to the base request's); a prompt that a gate fires on pays an adapted prefill on top, which is the forgetting's cost, not the routing's. \`bank\` = every detector behind one DetectorBank (src/ood/detector-bank.ts): its gates were compared with per-detector scoring on every evaluated prompt (mismatches after ${s.requests}: ${s.bankMismatches}), so the quality columns hold for both. \`always-on\` = every adapter on every prompt (no gate).

![retained and leak against the number of requests; routing cost with and without the bank](${meta.svgPath})

${longTable(r)}

Targets after ${s.requests} requests (issue 16):

| target | value | aim | |
|---|---|---|---|
${verdicts}
`;
}

export function longPlotSvg(r: LongResult): string {
  const W = 380;
  const H = 230;
  const pad = { l: 46, r: 12, t: 30, b: 36 };
  const xs = r.steps.map((s) => s.requests);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const panel = (title: string, left: number, yMax: number, series: { label: string; color: string; dash?: string; values: (number | null)[] }[], target?: number, percent = true): string => {
    const sx = (x: number) => left + pad.l + ((x - x0) / Math.max(1, x1 - x0)) * (W - pad.l - pad.r);
    const sy = (v: number) => pad.t + (1 - v / yMax) * (H - pad.t - pad.b);
    const grid = [0, 0.25, 0.5, 0.75, 1]
      .map((f) => f * yMax)
      .map((v) => `<line x1="${left + pad.l}" x2="${left + W - pad.r}" y1="${sy(v)}" y2="${sy(v)}" stroke="#ddd"/><text x="${left + pad.l - 6}" y="${sy(v) + 4}" text-anchor="end" font-size="10">${percent ? `${(v * 100).toFixed(0)}%` : v.toFixed(2)}</text>`)
      .join('');
    const ticks = xs.map((x) => `<text x="${sx(x)}" y="${H - pad.b + 14}" text-anchor="middle" font-size="10">${x}</text>`).join('');
    const lines = series
      .map((s, k) => {
        const pts = xs.flatMap((x, i) => (s.values[i] === null ? [] : [`${sx(x).toFixed(1)},${sy(Math.min(yMax, s.values[i]!)).toFixed(1)}`]));
        return `<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${pts.join(' ')}"/><text x="${left + pad.l + 6}" y="${pad.t + 12 + 12 * k}" font-size="10" fill="${s.color}">${s.label}</text>`;
      })
      .join('');
    const targetLine = target === undefined ? '' : `<line x1="${left + pad.l}" x2="${left + W - pad.r}" y1="${sy(target)}" y2="${sy(target)}" stroke="#c00" stroke-dasharray="2 3"/>`;
    return `<text x="${left + W / 2}" y="16" text-anchor="middle" font-size="12">${title}</text>${grid}${ticks}${targetLine}${lines}<text x="${left + W / 2}" y="${H - 4}" text-anchor="middle" font-size="10">active requests</text>`;
  };
  const quality = panel('retained and leak (lethe = bank)', 0, 1, [
    { label: 'retained', color: '#1f77b4', values: r.steps.map((s) => s.retained) },
    { label: 'leak, paraphrases', color: '#d62728', values: r.steps.map((s) => s.leakParaphrase) },
    { label: 'leak, new templates', color: '#ff7f0e', values: r.steps.map((s) => s.leakNewTemplates) },
    { label: 'retained, always-on', color: '#7f7f7f', dash: '5 3', values: r.steps.map((s) => s.alwaysOn.retained) },
  ]);
  const costMax = Math.max(0.2, ...r.steps.map((s) => Math.max(s.routingCost, s.routingCostPerDetector))) * 1.1;
  const cost = panel(
    'routing cost / base request',
    W,
    costMax,
    [
      { label: 'per detector', color: '#9467bd', values: r.steps.map((s) => s.routingCostPerDetector) },
      { label: 'bank', color: '#2ca02c', values: r.steps.map((s) => s.routingCost) },
    ],
    0.1,
    false,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H}" font-family="sans-serif">${quality}${cost}</svg>\n`;
}
