import { describe, expect, it } from 'vitest';
import { responsesRequest, toChatRequest, toResponse, ResponseShape } from '../../../src/responses/index.js';

const read = (body: Record<string, unknown>) => responsesRequest.parse(body);

describe('a Responses request as a chat completion', () => {
  it('instructions and every system or developer message go first, as one system message (templates know no developer role)', () => {
    const chat = toChatRequest(
      read({
        instructions: 'You are Codex.',
        input: [
          { role: 'developer', content: [{ type: 'input_text', text: 'sandbox: read-only' }] },
          { role: 'user', content: [{ type: 'input_text', text: 'AGENTS.md says…' }, { type: 'input_text', text: ' be kind' }] },
          { type: 'message', role: 'system', content: 'late system note' },
          { role: 'user', content: 'fix it' },
        ],
      }),
    );
    expect(chat.messages).toEqual([
      { role: 'system', content: 'You are Codex.\n\nsandbox: read-only\n\nlate system note' },
      { role: 'user', content: 'AGENTS.md says… be kind' },
      { role: 'user', content: 'fix it' },
    ]);
  });

  it('calls join the assistant message before them, reasoning goes back with them, outputs become tool messages', () => {
    const chat = toChatRequest(
      read({
        input: [
          { role: 'user', content: 'list and patch' },
          { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'short' }], content: [{ type: 'reasoning_text', text: 'I should list first.' }] },
          { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Listing.' }] },
          { type: 'function_call', call_id: 'c1', name: 'shell', arguments: '{"cmd":["ls"]}' },
          { type: 'custom_tool_call', call_id: 'c2', name: 'apply_patch', input: '*** Begin Patch' },
          { type: 'function_call_output', call_id: 'c1', output: 'a.txt' },
          { type: 'custom_tool_call_output', call_id: 'c2', output: [{ type: 'input_text', text: 'Done!' }] },
          { type: 'item_reference', id: 'msg_0' },
        ],
        tools: [{ type: 'function', name: 'shell', parameters: { type: 'object', properties: { cmd: { type: 'array' } } } }, { type: 'custom', name: 'apply_patch', description: 'patches files' }],
        tool_choice: 'auto',
        max_output_tokens: 100,
        text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object' } } },
      }),
    );
    expect(chat.messages).toEqual([
      { role: 'user', content: 'list and patch' },
      {
        role: 'assistant',
        content: 'Listing.',
        reasoning: 'I should list first.',
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'shell', arguments: '{"cmd":["ls"]}' } },
          { id: 'c2', type: 'function', function: { name: 'apply_patch', arguments: '{"input":"*** Begin Patch"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'a.txt' },
      { role: 'tool', tool_call_id: 'c2', content: 'Done!' },
    ]);
    expect(chat.tools).toEqual([
      { type: 'function', function: { name: 'shell', parameters: { type: 'object', properties: { cmd: { type: 'array' } } } } },
      { type: 'function', function: { name: 'apply_patch', description: 'patches files', parameters: { type: 'object', properties: { input: { type: 'string', description: "the tool's whole input, as raw text" } }, required: ['input'] } } },
    ]);
    expect(chat).toMatchObject({ max_tokens: 100, tool_choice: 'auto', response_format: { type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object' } } } });
    expect(chat).not.toHaveProperty('model');
  });

  it("a namespace's tools are offered as namespace.name; their calls in the history too", () => {
    const request = read({
      input: [{ role: 'user', content: 'close it' }, { type: 'function_call', call_id: 'c1', name: 'close_agent', namespace: 'agents', arguments: '{}' }, { type: 'function_call_output', call_id: 'c1', output: 'closed' }],
      tools: [{ type: 'namespace', name: 'agents', description: 'sub-agents', tools: [{ type: 'function', name: 'close_agent', parameters: { type: 'object', properties: {} } }, { type: 'custom', name: 'script' }] }],
      tool_choice: { type: 'function', name: 'close_agent', namespace: 'agents' },
    });
    const chat = toChatRequest(request);
    expect((chat.tools as Array<{ function: { name: string } }>).map((t) => t.function.name)).toEqual(['agents.close_agent', 'agents.script']);
    expect((chat.messages as Array<Record<string, unknown>>)[1]).toMatchObject({ tool_calls: [{ function: { name: 'agents.close_agent' } }] });
    expect(chat.tool_choice).toEqual({ type: 'function', function: { name: 'agents.close_agent' } });
    const shape = new ResponseShape(request);
    expect(shape.callItem({ id: 'x', function: { name: 'agents.close_agent', arguments: '{}' } })).toMatchObject({ type: 'function_call', name: 'close_agent', namespace: 'agents' });
    expect(shape.callItem({ id: 'y', function: { name: 'agents.script', arguments: '{"input":"ls"}' } })).toMatchObject({ type: 'custom_tool_call', name: 'script', namespace: 'agents', input: 'ls' });
  });

  it('built-in tools are refused by name, saying why (and, for web search, how Codex turns it off)', () => {
    const refused = responsesRequest.safeParse({ input: 'x', tools: [{ type: 'web_search', external_web_access: false }] });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]).toMatchObject({ path: ['tools', 0, 'type'] });
    expect(refused.error?.issues[0]?.message).toMatch(/built-in tool "web_search" is not available.*web_search = "disabled"/);
    expect(responsesRequest.safeParse({ input: 'x', tools: [{ type: 'namespace', name: 'n', tools: [{ type: 'file_search' }] }] }).error?.issues[0]?.path).toEqual(['tools', 0, 'tools', 0, 'type']);
  });

  it('tool_choice none offers no tools; unknown fields are dropped', () => {
    const request = read({ input: 'hi', tools: [{ type: 'function', name: 'f' }], tool_choice: 'none', store: false, prompt_cache_key: 'k', service_tier: 'flex', future_field: 1 });
    expect(request).not.toHaveProperty('future_field');
    expect(toChatRequest(request)).toEqual({ messages: [{ role: 'user', content: 'hi' }], stream: false });
  });
});

describe('a chat completion as a response', () => {
  it('reasoning, the message and the calls as output items; a freeform tool call carries its raw input; usage with cached tokens', () => {
    const shape = new ResponseShape(read({ model: 'local', input: 'x', tools: [{ type: 'function', name: 'f' }, { type: 'custom', name: 'apply_patch' }] }));
    const response = toResponse(
      {
        choices: [
          {
            finish_reason: 'tool_calls',
            message: { role: 'assistant', reasoning: 'hmm', content: 'Doing it.', tool_calls: [{ id: 'a1', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }, { id: 'a2', type: 'function', function: { name: 'apply_patch', arguments: '{"input":"*** Begin Patch"}' } }] },
          },
        ],
        usage: { prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 8 } },
      },
      shape,
    );
    expect(response).toMatchObject({
      id: shape.id,
      object: 'response',
      status: 'completed',
      model: 'local',
      output: [
        { type: 'reasoning', content: [{ type: 'reasoning_text', text: 'hmm' }] },
        { type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Doing it.', annotations: [] }] },
        { type: 'function_call', call_id: 'a1', name: 'f', arguments: '{"x":1}', status: 'completed' },
        { type: 'custom_tool_call', call_id: 'a2', name: 'apply_patch', input: '*** Begin Patch' },
      ],
      usage: { input_tokens: 10, input_tokens_details: { cached_tokens: 8 }, output_tokens: 5, total_tokens: 15 },
    });
  });

  it('a finish for length is an incomplete response', () => {
    const response = toResponse({ choices: [{ finish_reason: 'length', message: { content: 'cut' } }] }, new ResponseShape(read({ input: 'x' })));
    expect(response).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
  });
});
