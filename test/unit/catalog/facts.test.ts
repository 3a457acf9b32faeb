import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { capabilitiesOf, ModelCatalog, modelDirectory, parameterSize, readModelFacts } from '../../../src/catalog/index.js';
import { privateDir } from '../../support/processes.js';

/** A safetensors file whose header lists `tensors` (the data is zeros). */
function safetensors(path: string, tensors: Record<string, { dtype: string; shape: number[] }>): void {
  let offset = 0;
  const header: Record<string, unknown> = { __metadata__: { format: 'mlx' } };
  for (const [name, { dtype, shape }] of Object.entries(tensors)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([length, json, Buffer.alloc(offset)]));
}

function modelFolder(config: Record<string, unknown>, tensors: Record<string, { dtype: string; shape: number[] }>, template?: string): string {
  const dir = privateDir('mlx-guard-model-');
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  if (template !== undefined) writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: template }));
  safetensors(join(dir, 'model.safetensors'), tensors);
  return dir;
}

describe('what a model folder says of the model', () => {
  it('reads family, context, parameters (a quantized weight unpacked, its scales and biases left out), quantization and the template', async () => {
    const dir = modelFolder(
      { model_type: 'qwen2', max_position_embeddings: 32768, quantization: { group_size: 64, bits: 4 } },
      {
        'model.embed_tokens.weight': { dtype: 'U32', shape: [100, 8] },
        'model.embed_tokens.scales': { dtype: 'BF16', shape: [100, 1] },
        'model.embed_tokens.biases': { dtype: 'BF16', shape: [100, 1] },
        'model.norm.weight': { dtype: 'BF16', shape: [64] },
      },
      '{% if tools %}{{ tools }}{% endif %}<think>',
    );
    const facts = await readModelFacts(dir);
    // 100 × 8 uint32 of 8 four-bit values each, and the norm's 64.
    expect(facts).toMatchObject({ family: 'qwen2', contextLength: 32768, parameterCount: 100 * 64 + 64, quantization: 'Q4', chatTemplate: '{% if tools %}{{ tools }}{% endif %}<think>' });
    expect(facts.sizeBytes).toBeGreaterThan(3000);
    expect(facts.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(capabilitiesOf(facts)).toEqual(['completion', 'tools', 'thinking']);
  });

  it('takes a multimodal model’s text context, the weights’ type when not quantized, and a template file', async () => {
    const dir = modelFolder({ model_type: 'gemma3', text_config: { max_position_embeddings: 131072 } }, { 'w.weight': { dtype: 'BF16', shape: [10, 10] } });
    writeFileSync(join(dir, 'chat_template.jinja'), 'plain {{ messages }}');
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ temperature: 0.7, top_p: 0.8, repetition_penalty: 1.05, eos_token_id: 1 }));
    expect(await readModelFacts(dir)).toMatchObject({ family: 'gemma3', contextLength: 131072, parameterCount: 100, quantization: 'BF16', chatTemplate: 'plain {{ messages }}', sampling: { temperature: 0.7, top_p: 0.8, repeat_penalty: 1.05 } });
    expect(capabilitiesOf({ chatTemplate: 'plain' })).toEqual(['completion']);
  });

  it('reads what loading it takes: the weights\' bytes, and its KV cache per token (grouped-query heads, a head size given or derived)', async () => {
    const tensors = { 'w.weight': { dtype: 'BF16', shape: [16, 16] } };
    // Qwen2.5-7B's shape: 28 layers, 4 KV heads of 3584 / 28 = 128: 2 × 28 × 4 × 128 × 2 bytes.
    const grouped = await readModelFacts(modelFolder({ model_type: 'qwen2', num_hidden_layers: 28, num_attention_heads: 28, num_key_value_heads: 4, hidden_size: 3584 }, tensors));
    expect(grouped.kvBytesPerToken).toBe(57_344);
    expect(grouped.weightsBytes).toBe(16 * 16 * 4 + 8 + JSON.stringify({ __metadata__: { format: 'mlx' }, 'w.weight': { dtype: 'BF16', shape: [16, 16], data_offsets: [0, 1024] } }).length);
    // No KV heads named: every attention head has its own; a head size given wins.
    expect((await readModelFacts(modelFolder({ model_type: 'gemma3', text_config: { num_hidden_layers: 2, num_attention_heads: 8, hidden_size: 1024, head_dim: 256 } }, tensors))).kvBytesPerToken).toBe(2 * 2 * 8 * 256 * 2);
    expect((await readModelFacts(modelFolder({ model_type: 'odd' }, tensors))).kvBytesPerToken).toBeUndefined();
  });

  it('formats parameter counts as Ollama does', () => {
    expect(parameterSize(7_615_616_512)).toBe('7.6B');
    expect(parameterSize(494_032_768)).toBe('494.0M');
    expect(parameterSize(260_096)).toBe('260.1K');
  });

  it('finds a hub repo’s snapshot in the Hugging Face cache, and nothing for a name it does not hold', async () => {
    const hub = privateDir('mlx-guard-hub-');
    const folder = join(hub, 'models--org--tiny');
    const snapshot = join(folder, 'snapshots', 'abc123');
    mkdirSync(snapshot, { recursive: true });
    mkdirSync(join(folder, 'refs'));
    writeFileSync(join(folder, 'refs', 'main'), 'abc123\n');
    writeFileSync(join(snapshot, 'config.json'), JSON.stringify({ model_type: 'llama', max_position_embeddings: 2048 }));
    const env = { HF_HUB_CACHE: hub };
    expect(await modelDirectory('org/tiny', env)).toBe(snapshot);
    expect(await modelDirectory('org/absent', env)).toBeUndefined();
    expect(await modelDirectory('model.gguf', env)).toBeUndefined();
    const catalog = new ModelCatalog(env);
    expect(await catalog.facts('org/tiny')).toMatchObject({ family: 'llama', contextLength: 2048 });
    expect(await catalog.facts('org/absent')).toBeUndefined();
  });
});
