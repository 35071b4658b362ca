import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ChatTemplate, ChatTemplateError, chatTemplateSource } from '../engine/chat-template.js';
import { tokenizerConfig } from './tokenizer-builder.js';
import { formatPrompt, generateWorld, trainedItems, utilityItems } from './world.js';

const committed = JSON.parse(readFileSync('models/demo/tokenizer_config.json', 'utf8')) as Record<string, unknown>;
const sut = new ChatTemplate(chatTemplateSource(committed)!, { bosToken: committed.bos_token as string, eosToken: committed.eos_token as string });

describe('the demo model chat template', () => {
  it('is what tokenizerConfig() writes (npm run tokenizer:build reproduces the committed file)', () => {
    expect(committed).toEqual(tokenizerConfig());
  });

  it('renders a one-question chat as exactly the prompt the model was trained on', () => {
    const world = generateWorld();
    for (const item of [...trainedItems(world).slice(0, 200), ...utilityItems(world).slice(0, 50)]) {
      expect(sut.render([{ role: 'user', content: item.question }])).toBe(item.prompt);
    }
    expect(sut.render([{ role: 'user', content: 'Where was Liker Sheseal born?' }])).toBe(formatPrompt('Where was Liker Sheseal born?'));
  });

  it('puts history as earlier questions and answers, a system turn as a line before them', () => {
    const text = sut.render([
      { role: 'system', content: 'Answer briefly.' },
      { role: 'user', content: 'Where was Liker Sheseal born?' },
      { role: 'assistant', content: 'Zeazeas.' },
      { role: 'developer', content: 'Still brief.' },
      { role: 'user', content: 'When was Liker Sheseal born?' },
    ]);
    expect(text).toBe('Answer briefly.\nQuestion: Where was Liker Sheseal born?\nAnswer: Zeazeas.\nStill brief.\nQuestion: When was Liker Sheseal born?\nAnswer:');
  });

  it('refuses roles the model has no place for', () => {
    expect(() => sut.render([{ role: 'tool', content: '42' }])).toThrow(ChatTemplateError);
  });
});
