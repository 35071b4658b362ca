/**
 * Generated near-negatives and forget-set augmentation (DESIGN §3.2b), with no retained data from the
 * user. From the forget items and a pool of reference prompts (the bundled generic set, the model
 * folder's reference data, the request's own `referencePrompts`):
 * - **other-entity**: the forget questions asked about other entities the reference prompts name
 *   ("Where was <other name> born?"); the base model's own answers are their targets, so the adapter
 *   learns to keep them and the gate is calibrated against them;
 * - **same-entity**: other questions about a forget entity (reference templates with the entity
 *   swapped in). The base model answers each; if its answer is one of the request's forgotten answers
 *   (or appears in one of its statements) the question is another phrasing of a forgotten fact and
 *   joins the forget set (so statements become questions, and one question gets its paraphrases);
 *   otherwise it asks about a fact the request does not name and is kept.
 */
import { normaliseAnswer } from '../engine/answer-scoring.js';
import type { TextTokenizer } from '../engine/generate.js';
import type { TransformerModel } from '../engine/transformer.js';
import type { ForgetItem } from '../ood/index.js';
import { OodRandom } from '../ood/random.js';
import { mentions, requestEntities, subjectEntity, swapEntity, templateVocabulary, type EntitySpan } from './entities.js';
import { answerWithPlans } from './gated-answer.js';

export interface NearNegativeOptions {
  /** Other entities each forget question is asked about. */
  entitiesPerItem: number;
  /** Most reference templates tried per forget entity. */
  templatesPerEntity: number;
  /** Most other-entity prompts kept in total. */
  maxOtherEntity: number;
  /** Reference prompts kept as they are (other entities, other questions), with their base answers. */
  referenceKeep: number;
  /** Tokens of each base answer. */
  maxTokens: number;
  seed: number;
}

export const DEFAULT_NEAR_NEGATIVE_OPTIONS: Readonly<NearNegativeOptions> = Object.freeze({
  entitiesPerItem: 3,
  templatesPerEntity: 128,
  maxOtherEntity: 96,
  referenceKeep: 32,
  maxTokens: 16,
  seed: 0,
});

/** A prompt with the base model's greedy answer to it. */
export interface AnsweredPrompt {
  prompt: string;
  /** The base model's answer text (as generated: leading space, full stop). */
  answer: string;
}

export interface NearNegatives {
  /** The forget entities found in the items. */
  entities: string[];
  /** Other phrasings of forgotten facts (their base answer is a forgotten answer). */
  forgetPrompts: AnsweredPrompt[];
  /** Forget questions about other entities (keep their base answers). */
  otherEntity: AnsweredPrompt[];
  /** Questions about a forget entity on facts the request does not name (keep their base answers). */
  sameEntity: AnsweredPrompt[];
  /** Reference prompts as they are: other entities in other questions (keep their base answers). */
  reference: AnsweredPrompt[];
  /** Kept prompts whose answer an earlier active request already withholds (`answer` is the base model's). */
  withheld: (AnsweredPrompt & { deployedAnswer: string })[];
}

/** True when a prompt asks something (ends in a question, an answer cue, or is a known Q/A item). */
function isQuestion(item: ForgetItem): boolean {
  return item.answer !== undefined || /[?:]\s*$/.test(item.prompt);
}

/** Whether `answer` names one of the forgotten facts about `entity`. */
function forgottenAnswer(answer: string, entity: string, items: readonly ForgetItem[]): boolean {
  const a = normaliseAnswer(answer);
  // Too short to say which fact it is ("the", "a"): not evidence of a forgotten answer.
  if (a.length < 3) return false;
  return items.some((it) => {
    if (!mentions(it.prompt, entity)) return false;
    if (it.answer !== undefined) return normaliseAnswer(it.answer) === a;
    // A statement: the answer appears in it as whole words, outside the entity's own name.
    const text = ` ${normaliseAnswer(it.prompt)} `.split(` ${normaliseAnswer(entity)} `).join('   ');
    return text.includes(` ${a} `);
  });
}

/** Builds the near-negatives and forget augmentation of a request (deterministic for a seed). */
export async function buildNearNegatives(
  model: TransformerModel,
  tokenizer: TextTokenizer,
  items: readonly ForgetItem[],
  referencePrompts: readonly string[],
  partial: Partial<NearNegativeOptions> = {},
  deployedAnswers?: (prompts: readonly string[]) => Promise<string[]>,
): Promise<NearNegatives> {
  const o = { ...DEFAULT_NEAR_NEGATIVE_OPTIONS, ...partial };
  const rng = new OodRandom(o.seed * 31 + 7);
  const forgetPrompts = new Set(items.map((i) => i.prompt));
  // A request typed without capitals still names its entity: read against the reference templates.
  const itemSpans = requestEntities(
    items.map((i) => i.prompt),
    templateVocabulary(referencePrompts),
  );
  const spanOf = new Map<string, EntitySpan>();
  items.forEach((i, k) => {
    const span = itemSpans[k];
    if (span && !spanOf.has(i.prompt)) spanOf.set(i.prompt, span);
  });
  const entities = unique(itemSpans.filter((s): s is EntitySpan => s !== null).map((s) => s.text));
  const touchesForget = (p: string) => entities.some((e) => mentions(p, e));

  // Reference prompts about some other entity: the pool of other names and of question templates.
  const templates = new Map<string, { prompt: string; entity: string; start: number; end: number }>();
  const others = new Set<string>();
  for (const p of referencePrompts) {
    if (touchesForget(p)) continue;
    const span = subjectEntity(p);
    if (!span) continue;
    others.add(span.text);
    const key = swapEntity(p, span, '\u0000');
    if (!templates.has(key)) templates.set(key, { prompt: p, entity: span.text, start: span.start, end: span.end });
  }
  const otherNames = [...others];

  const templateList = [...templates.values()];
  const sameCandidates: { prompt: string; entity: string }[] = [];
  for (const entity of entities) {
    for (const k of rng.permutation(templateList.length).slice(0, Math.min(o.templatesPerEntity, templateList.length))) {
      const t = templateList[k];
      const prompt = swapEntity(t.prompt, { text: t.entity, start: t.start, end: t.end }, entity);
      if (!forgetPrompts.has(prompt)) sameCandidates.push({ prompt, entity });
    }
  }
  const sameAnswered = await baseAnswers(model, tokenizer, unique(sameCandidates.map((c) => c.prompt)), o.maxTokens);
  const entityOf = new Map(sameCandidates.map((c) => [c.prompt, c.entity]));
  const out: NearNegatives = { entities, forgetPrompts: [], otherEntity: [], sameEntity: [], reference: [], withheld: [] };
  for (const a of sameAnswered) {
    if (forgottenAnswer(a.answer, entityOf.get(a.prompt)!, items)) out.forgetPrompts.push(a);
    else out.sameEntity.push(a);
  }

  // The forget questions (given and found) asked about other entities; statements are not asked.
  const questions = [...items.filter(isQuestion).map((i) => i.prompt), ...out.forgetPrompts.map((f) => f.prompt)];
  const otherCandidates: string[] = [];
  for (const q of questions) {
    const span = spanOf.get(q) ?? subjectEntity(q);
    if (!span || otherNames.length === 0) continue;
    // Other names in the request's own style: a lower-case question gets lower-case names.
    const lower = q.slice(span.start, span.end) === q.slice(span.start, span.end).toLowerCase();
    for (const k of rng.permutation(otherNames.length).slice(0, Math.min(o.entitiesPerItem, otherNames.length))) {
      otherCandidates.push(swapEntity(q, span, lower ? otherNames[k].toLowerCase() : otherNames[k]));
    }
  }
  const other = unique(otherCandidates).filter((p) => !forgetPrompts.has(p));
  const otherKept = other.length <= o.maxOtherEntity ? other : rng.permutation(other.length).slice(0, o.maxOtherEntity).map((k) => other[k]);
  const plain = referencePrompts.filter((p) => !touchesForget(p));
  const referenceKept = rng.permutation(plain.length).slice(0, Math.min(o.referenceKeep, plain.length)).map((k) => plain[k]);
  // One generation pass for both lists (batches fill better than two passes).
  const answered = await baseAnswers(model, tokenizer, [...otherKept, ...referenceKept], o.maxTokens);
  out.otherEntity = answered.slice(0, otherKept.length);
  out.reference = answered.slice(otherKept.length);
  // An earlier request may already withhold a kept prompt's answer (overlapping requests on one
  // entity). Such prompts move to `withheld`: the new adapter must keep withholding them beside the
  // earlier ones, and give the base answer alone (so revoking the earlier request brings it back).
  if (deployedAnswers) {
    const keys = ['otherEntity', 'sameEntity', 'reference'] as const;
    const kept = keys.flatMap((key) => out[key].map((k) => ({ key, k })));
    const now = kept.length === 0 ? [] : await deployedAnswers(kept.map(({ k }) => k.prompt));
    for (const key of keys) out[key] = [];
    kept.forEach(({ key, k }, i) => {
      if (normaliseAnswer(now[i]) === normaliseAnswer(k.answer)) out[key].push(k);
      else out.withheld.push({ prompt: k.prompt, answer: k.answer, deployedAnswer: now[i] });
    });
  }
  return out;
}

async function baseAnswers(model: TransformerModel, tokenizer: TextTokenizer, prompts: readonly string[], maxTokens: number): Promise<AnsweredPrompt[]> {
  if (prompts.length === 0) return [];
  const answers = await answerWithPlans(model, tokenizer, prompts, prompts.map(() => []), { maxTokens });
  return prompts.map((prompt, i) => ({ prompt, answer: answers[i].text }));
}

function unique(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}
