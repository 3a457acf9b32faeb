import { describe, expect, it } from 'vitest';
import { chatRequest, completionRequest, describeIssue, sanitizeRequest, unreadFields } from '../../../src/openai/index.js';

// What current OpenAI clients send (openai-node 6, openai-python 2): fields mlx_lm.server does not
// read must be dropped, not refused; values of the wrong type stay a 400 naming the field.
const current = {
  model: 'gpt-5',
  messages: [
    { role: 'developer', content: 'Be brief.' },
    { role: 'user', content: 'hi' },
  ],
  max_completion_tokens: 8,
  prompt_cache_key: 'session-42',
  store: false,
  parallel_tool_calls: true,
  stream_options: { include_usage: true },
  response_format: { type: 'text' },
  reasoning_effort: 'low',
  safety_identifier: 'user-1',
  verbosity: 'low',
  modalities: ['text'],
  // Pinned, as the model is: a client-chosen adapter path would load files from disk.
  adapters: '/tmp/some-adapter',
};

describe('request schema', () => {
  it('takes the fields current clients send, forwards what the server reads, drops the rest', () => {
    const parsed = chatRequest.parse(current);
    const body = JSON.parse(sanitizeRequest(parsed).body) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['max_completion_tokens', 'messages', 'stream', 'stream_options']);
    expect(unreadFields(chatRequest, current).sort()).toEqual(['adapters', 'modalities', 'parallel_tool_calls', 'prompt_cache_key', 'reasoning_effort', 'response_format', 'safety_identifier', 'store', 'verbosity']);
  });

  it('a known field with a value of the wrong type is still refused by name', () => {
    const result = completionRequest.safeParse({ prompt: 'x', max_tokens: 'ten', prompt_cache_key: 7 });
    expect(result.success).toBe(false);
    expect(describeIssue(result.error!)).toEqual({ message: 'max_tokens: Invalid input: expected number, received string', param: 'max_tokens' });
  });
});
