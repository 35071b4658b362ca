/** Model families Lethe runs (DESIGN §2). */
export type ModelFamily = 'gpt2' | 'llama';

/**
 * A decoder-only transformer's shape, normalised from a Hugging Face `config.json`.
 * Field names are Lethe's own; `parseModelConfig` maps both families onto them.
 */
export interface ModelConfig {
  family: ModelFamily;
  vocabSize: number;
  /** Hidden size (gpt2 `n_embd`, llama `hidden_size`). */
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** Key/value heads (grouped-query attention); equals nHeads for gpt2. */
  nKvHeads: number;
  /** dModel / nHeads. */
  headDim: number;
  /** MLP inner size (gpt2 `n_inner` or 4·n_embd, llama `intermediate_size`). */
  dFf: number;
  maxPositions: number;
  /** LayerNorm (gpt2) or RMSNorm (llama) epsilon. */
  normEps: number;
  /** RoPE base (llama); unused by gpt2. */
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  bosTokenId?: number;
  eosTokenId?: number;
  padTokenId?: number;
}

/** A config.json that cannot describe a supported model. The message lists every problem. */
export class ModelConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid model config: ${problems.join('; ')}`);
    this.name = 'ModelConfigError';
  }
}

type Json = Record<string, unknown>;

/**
 * Parses a Hugging Face `config.json` object (`model_type` gpt2 or llama; mistral/qwen-style
 * llama variants are not accepted) into a ModelConfig. Throws ModelConfigError listing every bad field.
 */
export function parseModelConfig(json: unknown): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelConfigError(['config.json must be a JSON object']);
  }
  const raw = json as Json;
  const problems: string[] = [];
  const family = raw.model_type;
  if (family !== 'gpt2' && family !== 'llama') {
    throw new ModelConfigError([`model_type must be "gpt2" or "llama", got ${JSON.stringify(family)}`]);
  }
  const int = (key: string, fallback?: number, min = 1): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      problems.push(`${key} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
      return min;
    }
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      problems.push(`${key} must be a positive number, got ${JSON.stringify(v)}`);
      return fallback;
    }
    return v;
  };
  const optId = (key: string): number | undefined => {
    const v = raw[key];
    if (v === undefined || v === null) return undefined;
    // Some configs list several eos ids; the first is the one generation stops on by default.
    const id = Array.isArray(v) ? v[0] : v;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      problems.push(`${key} must be a non-negative integer, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return id;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'boolean') {
      problems.push(`${key} must be a boolean, got ${JSON.stringify(v)}`);
      return fallback;
    }
    return v;
  };

  let config: ModelConfig;
  if (family === 'gpt2') {
    const dModel = int('n_embd');
    const nHeads = int('n_head');
    const nInner = raw.n_inner === null || raw.n_inner === undefined ? 4 * dModel : int('n_inner');
    const act = raw.activation_function ?? 'gelu_new';
    if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') {
      problems.push(`activation_function ${JSON.stringify(act)} is not supported (gelu_new only)`);
    }
    config = {
      family,
      vocabSize: int('vocab_size'),
      dModel,
      nLayers: int('n_layer'),
      nHeads,
      nKvHeads: nHeads,
      headDim: Math.floor(dModel / nHeads),
      dFf: nInner,
      maxPositions: int('n_positions', raw.n_ctx as number | undefined),
      normEps: num('layer_norm_epsilon', 1e-5),
      ropeTheta: 10000,
      tieWordEmbeddings: bool('tie_word_embeddings', true),
      bosTokenId: optId('bos_token_id'),
      eosTokenId: optId('eos_token_id'),
      padTokenId: optId('pad_token_id'),
    };
  } else {
    const dModel = int('hidden_size');
    const nHeads = int('num_attention_heads');
    const nKvHeads = int('num_key_value_heads', nHeads);
    const act = raw.hidden_act ?? 'silu';
    if (act !== 'silu') problems.push(`hidden_act ${JSON.stringify(act)} is not supported (silu only)`);
    const scaling = raw.rope_scaling as Json | null | undefined;
    if (scaling && (scaling.rope_type ?? scaling.type ?? 'default') !== 'default') {
      problems.push(`rope_scaling ${JSON.stringify(scaling)} is not supported`);
    }
    if (raw.head_dim !== undefined && raw.head_dim !== null && raw.head_dim !== dModel / nHeads) {
      problems.push(`head_dim ${JSON.stringify(raw.head_dim)} must equal hidden_size / num_attention_heads`);
    }
    if (nHeads % nKvHeads !== 0) {
      problems.push(`num_attention_heads (${nHeads}) must be a multiple of num_key_value_heads (${nKvHeads})`);
    }
    config = {
      family,
      vocabSize: int('vocab_size'),
      dModel,
      nLayers: int('num_hidden_layers'),
      nHeads,
      nKvHeads,
      headDim: Math.floor(dModel / nHeads),
      dFf: int('intermediate_size'),
      maxPositions: int('max_position_embeddings', 2048),
      normEps: num('rms_norm_eps', 1e-6),
      ropeTheta: num('rope_theta', 10000),
      tieWordEmbeddings: bool('tie_word_embeddings', false),
      bosTokenId: optId('bos_token_id'),
      eosTokenId: optId('eos_token_id'),
      padTokenId: optId('pad_token_id'),
    };
  }
  if (config.dModel % config.nHeads !== 0) {
    problems.push(`hidden size ${config.dModel} must be divisible by the number of heads ${config.nHeads}`);
  }
  if (config.family === 'llama' && config.headDim % 2 !== 0) problems.push('head dimension must be even for RoPE');
  for (const key of ['bosTokenId', 'eosTokenId', 'padTokenId'] as const) {
    const id = config[key];
    if (id !== undefined && id >= config.vocabSize) problems.push(`${key} ${id} is outside the vocabulary`);
  }
  if (problems.length > 0) throw new ModelConfigError(problems);
  return config;
}

/** The Hugging Face `config.json` object for a ModelConfig (inverse of parseModelConfig). */
export function toHfConfig(config: ModelConfig): Record<string, unknown> {
  const ids = {
    ...(config.bosTokenId !== undefined && { bos_token_id: config.bosTokenId }),
    ...(config.eosTokenId !== undefined && { eos_token_id: config.eosTokenId }),
    ...(config.padTokenId !== undefined && { pad_token_id: config.padTokenId }),
  };
  if (config.family === 'gpt2') {
    return {
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      vocab_size: config.vocabSize,
      n_embd: config.dModel,
      n_layer: config.nLayers,
      n_head: config.nHeads,
      n_inner: config.dFf,
      n_positions: config.maxPositions,
      layer_norm_epsilon: config.normEps,
      activation_function: 'gelu_new',
      tie_word_embeddings: config.tieWordEmbeddings,
      ...ids,
    };
  }
  return {
    model_type: 'llama',
    architectures: ['LlamaForCausalLM'],
    vocab_size: config.vocabSize,
    hidden_size: config.dModel,
    num_hidden_layers: config.nLayers,
    num_attention_heads: config.nHeads,
    num_key_value_heads: config.nKvHeads,
    intermediate_size: config.dFf,
    max_position_embeddings: config.maxPositions,
    rms_norm_eps: config.normEps,
    rope_theta: config.ropeTheta,
    hidden_act: 'silu',
    tie_word_embeddings: config.tieWordEmbeddings,
    torch_dtype: 'float32',
    ...ids,
  };
}
