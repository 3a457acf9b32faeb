// The registry's API: user formats, hints, validation, and the streaming contract's edges.
import { describe, expect, it } from 'vitest';
import { createParserRegistry, parserRegistry, ParserRegistry, type ToolCallFormat } from '../../../src/index.js';

describe('ParserRegistry', () => {
  it('lists the built-in formats', () => {
    expect(parserRegistry.formats()).toEqual(['hermes', 'qwen3_coder', 'glm', 'llama3_json', 'pythonic', 'mistral', 'harmony', 'deepseek', 'deepseek_v32', 'kimi_k2', 'minimax_m2', 'step3', 'functionary', 'granite', 'nemotron', 'internlm2', 'command_r7b', 'tool_calls_json', 'phi4_mini', 'apertus', 'gemma']);
  });

  it('takes a format of the user’s own: markers, a block reader, and the shared machinery for the rest', () => {
    const bracketCall: ToolCallFormat = {
      name: 'bracket',
      blocks: [{ open: '<<call ', close: ['>>'] }],
      parseBlock(payload) {
        const [name, ...pairs] = payload.trim().split(/\s+/);
        return { calls: [{ name: name!, arguments: Object.fromEntries(pairs.map((p) => p.split('='))), typed: false }] };
      },
    };
    const registry = createParserRegistry().register(bracketCall);
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { days: { type: 'integer' } } } } }];
    const result = registry.parseWithFallback('Sure. <<call get_weather city=Paris days=2>> Done.', { tools });
    expect(result).toMatchObject({ status: 'ok', format: 'bracket', content: 'Sure.  Done.', calls: [{ name: 'get_weather', arguments: { city: 'Paris', days: 2 } }] });
    const streamed = registry.createStreamParser({ tools });
    const deltas = [...'Sure. <<call get_weather city=Paris days=2>> Done.'].map((c) => streamed.push(c));
    expect(deltas.flatMap((d) => d.calls)).toHaveLength(1);
  });

  it('refuses a second format of the same name, or one ending a shared marker differently', () => {
    const registry = new ParserRegistry();
    const format: ToolCallFormat = { name: 'x', blocks: [{ open: '<x>', close: ['</x>'] }], parseBlock: () => ({ calls: [] }) };
    registry.register(format);
    expect(() => registry.register(format)).toThrow('a tool-call format named "x" is already registered');
    expect(() => registry.register({ ...format, name: 'y', blocks: [{ open: '<x>', close: ['<end>'] }] })).toThrow(/ends them differently/);
  });

  it('names the known formats when a hint is unknown', () => {
    expect(() => parserRegistry.parseWithFallback('x', { formatHint: 'qwen4' })).toThrow(/unknown formatHint "qwen4"; known formats: hermes, /);
  });

  it('streaming: a cut-off marker is held back until it resolves either way', () => {
    const parser = parserRegistry.createStreamParser();
    expect(parser.push('Hello <tool').content).toBe('Hello');
    expect(parser.push('box> opened').content).toBe(' <toolbox> opened');
    const again = parserRegistry.createStreamParser();
    expect(again.push('Hi <tool_').content).toBe('Hi');
    expect(again.push('call>{"name": "f", "arguments": {}}</tool_call>')).toMatchObject({ content: '', calls: [{ name: 'f', arguments: {} }] });
    expect(again.end()).toMatchObject({ content: '', calls: [], result: { status: 'ok', content: 'Hi' } });
  });

  it('streaming, tools declared: JSON after prose is held back while it may end the message as calls; braces in prose or code are not', () => {
    const weather = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const parser = parserRegistry.createStreamParser({ tools: weather });
    expect(parser.push('In C, `if (x) { y(); }` works').content).toBe('In C, `if (x) { y(); }` works');
    expect(parser.push('; settings {"units": "metric"} apply').content).toBe('; settings {"units": "metric"} apply');
    expect(parser.push('. Checking:\n{"name": "get_weather", "para').content).toBe('. Checking:');
    expect(parser.push('meters": {"city": "Paris"}}')).toEqual({ content: '', calls: [] });
    expect(parser.end()).toMatchObject({ content: '', calls: [{ name: 'get_weather', arguments: { city: 'Paris' } }], result: { status: 'ok', format: 'llama3_json' } });

    const thenProse = parserRegistry.createStreamParser({ tools: weather });
    expect(thenProse.push('Like {"name": "get_weather", "parameters": {}}').content).toBe('Like');
    expect(thenProse.push(' but not now.').content).toBe(' {"name": "get_weather", "parameters": {}} but not now.');
    expect(thenProse.end()).toMatchObject({ content: '', calls: [], result: { status: 'none' } });
  });

  it('streaming: push after end, or end twice, is a usage error', () => {
    const parser = parserRegistry.createStreamParser();
    parser.end();
    expect(() => parser.push('x')).toThrow('push() after end()');
    expect(() => parser.end()).toThrow('end() called twice');
  });
});
