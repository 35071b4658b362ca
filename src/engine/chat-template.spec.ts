import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatTemplate, ChatTemplateError, chatTemplateSource, loadChatTemplate } from './chat-template.js';

// A LLaMA-3-style template (as published in tokenizer_config.json files), trimmed to its structure.
const LLAMA3 =
  "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}" +
  "{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

describe('ChatTemplate', () => {
  it('renders messages with the special tokens and the generation prompt', () => {
    const sut = new ChatTemplate(LLAMA3, { bosToken: '<|begin_of_text|>', eosToken: { content: '<|eot_id|>' } });
    const text = sut.render([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: ' Hi ' },
    ]);
    expect(text).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    expect(sut.render([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: false })).not.toContain('assistant');
  });

  it("reports the template's raise_exception and render errors as ChatTemplateError", () => {
    const sut = new ChatTemplate("{% if messages[0].role != 'user' %}{{ raise_exception('Conversations must start with a user message') }}{% endif %}ok");
    expect(sut.render([{ role: 'user', content: 'x' }])).toBe('ok');
    expect(() => sut.render([{ role: 'assistant', content: 'x' }])).toThrow(ChatTemplateError);
    expect(() => sut.render([{ role: 'assistant', content: 'x' }])).toThrow(/must start with a user message/);
    expect(() => new ChatTemplate('{{ messages[0].content.nope() }}').render([{ role: 'user', content: 'x' }])).toThrow(ChatTemplateError);
  });

  it('refuses a template that does not parse', () => {
    expect(() => new ChatTemplate('{% for m in messages %}no end')).toThrow(ChatTemplateError);
  });
});

describe('chatTemplateSource / loadChatTemplate', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('takes a string, or the template named default from a list', () => {
    expect(chatTemplateSource({ chat_template: 'A' })).toBe('A');
    expect(chatTemplateSource({ chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] })).toBe('D');
    expect(chatTemplateSource({ chat_template: [{ name: 'tool_use', template: 'T' }] })).toBeUndefined();
    expect(chatTemplateSource({})).toBeUndefined();
  });

  it('reads tokenizer_config.json, then chat_template.jinja; null without either', async () => {
    dir = await mkdtemp(join(tmpdir(), 'lethe-chat-template-'));
    expect(await loadChatTemplate(dir)).toBeNull();
    await writeFile(join(dir, 'chat_template.jinja'), '{{ bos_token }}{{ messages[0].content }}');
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>' }));
    expect((await loadChatTemplate(dir))!.render([{ role: 'user', content: 'x' }])).toBe('<s>x');
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', chat_template: '[{{ messages[0].content }}]' }));
    expect((await loadChatTemplate(dir))!.render([{ role: 'user', content: 'x' }])).toBe('[x]');
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: '{% if %}' }));
    await expect(loadChatTemplate(dir)).rejects.toThrow(ChatTemplateError);
  });
});
