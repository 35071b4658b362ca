/**
 * Chat templates (issue 14): a model folder's Jinja `chat_template` (tokenizer_config.json, or the
 * `chat_template.jinja` file newer Hugging Face folders carry) rendered with @huggingface/jinja,
 * the implementation transformers.js uses, so a template written for transformers renders the same.
 * Framework-free: the service turns ChatTemplateErrors into 400s.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { TOKENIZER_CONFIG_FILE } from './checkpoint.js';

export const CHAT_TEMPLATE_FILE = 'chat_template.jinja';

/** One message as the template sees it: content already flattened to text. */
export interface ChatTemplateMessage {
  role: string;
  content: string;
  name?: string;
}

export interface ChatRenderOptions {
  /** Append the assistant's turn header so the model answers next (default true). */
  addGenerationPrompt?: boolean;
}

/** The template does not parse, or fails on these messages (including its own raise_exception). */
export class ChatTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChatTemplateError';
  }
}

type SpecialToken = string | { content?: unknown } | null | undefined;
const tokenText = (t: SpecialToken): string => (typeof t === 'string' ? t : typeof t?.content === 'string' ? t.content : '');

/** A parsed chat template with the special tokens it may print (`bos_token`, `eos_token`). */
export class ChatTemplate {
  private readonly template: Template;

  /** @throws ChatTemplateError when the source does not parse. */
  constructor(
    readonly source: string,
    private readonly specials: { bosToken?: SpecialToken; eosToken?: SpecialToken; padToken?: SpecialToken; unkToken?: SpecialToken } = {},
  ) {
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new ChatTemplateError(`the chat template does not parse: ${(e as Error).message}`);
    }
  }

  /** Renders the conversation to the prompt text (special tokens appear as text; encode it without adding any). */
  render(messages: readonly ChatTemplateMessage[], options: ChatRenderOptions = {}): string {
    try {
      return this.template.render({
        messages: messages.map((m) => ({ ...m })),
        add_generation_prompt: options.addGenerationPrompt ?? true,
        bos_token: tokenText(this.specials.bosToken),
        eos_token: tokenText(this.specials.eosToken),
        pad_token: tokenText(this.specials.padToken),
        unk_token: tokenText(this.specials.unkToken),
      });
    } catch (e) {
      throw new ChatTemplateError(`the chat template failed on these messages: ${(e as Error).message}`);
    }
  }
}

/**
 * The template in a tokenizer_config.json object: a string, or a list of `{ name, template }`
 * (the one named `default`). Undefined when it has none.
 */
export function chatTemplateSource(tokenizerConfig: Record<string, unknown>): string | undefined {
  const t = tokenizerConfig.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.find((x): x is { name: string; template: string } => typeof x?.template === 'string' && x?.name === 'default');
    return named?.template;
  }
  return undefined;
}

/**
 * Loads a model folder's chat template: `chat_template` in tokenizer_config.json, else
 * chat_template.jinja. Null when the folder has neither (chat requests are then refused).
 * @throws ChatTemplateError when a template is present but does not parse.
 */
export async function loadChatTemplate(dir: string): Promise<ChatTemplate | null> {
  let config: Record<string, unknown> = {};
  try {
    config = JSON.parse(await readFile(join(dir, TOKENIZER_CONFIG_FILE), 'utf8')) as Record<string, unknown>;
  } catch {
    /* optional file */
  }
  let source = chatTemplateSource(config);
  if (source === undefined) {
    try {
      source = await readFile(join(dir, CHAT_TEMPLATE_FILE), 'utf8');
    } catch {
      return null;
    }
  }
  const specials = config as { bos_token?: SpecialToken; eos_token?: SpecialToken; pad_token?: SpecialToken; unk_token?: SpecialToken };
  return new ChatTemplate(source, { bosToken: specials.bos_token, eosToken: specials.eos_token, padToken: specials.pad_token, unkToken: specials.unk_token });
}
