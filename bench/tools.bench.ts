// Tool-call parsing speed: throughput (MB/s) and latency per format for typical responses of
// 1 KB, 16 KB and 256 KB (prose, then the call), streaming cost, and a linearity check on
// adversarial inputs (time at 256 KB over time at 16 KB: 16 when linear, 256 when quadratic).
//
//   npm run bench:tools
import { Bench } from 'tinybench';
import { parserRegistry, type ToolDefinition } from '../src/index.js';

const TIME_MS = Number(process.env.TIME_MS ?? 300);
const tools: ToolDefinition[] = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } } } }];

const S = '｜';
const U = '▁';
const calls: Record<string, string> = {
  hermes: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}\n</tool_call>',
  qwen3_coder: '<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>',
  glm: '<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value><arg_key>days</arg_key><arg_value>3</arg_value></tool_call>',
  llama3_json: '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris", "days": 3}}',
  pythonic: '<|python_start|>[get_weather(city="Paris", days=3)]<|python_end|>',
  mistral: '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris", "days": 3}',
  harmony: '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris", "days": 3}<|call|>',
  deepseek: `<${S}tool${U}calls${U}begin${S}><${S}tool${U}call${U}begin${S}>get_weather<${S}tool${U}sep${S}>{"city": "Paris", "days": 3}<${S}tool${U}call${U}end${S}><${S}tool${U}calls${U}end${S}>`,
  deepseek_v32: `<${S}DSML${S}function_calls><${S}DSML${S}invoke name="get_weather"><${S}DSML${S}parameter name="city" string="true">Paris</${S}DSML${S}parameter></${S}DSML${S}invoke></${S}DSML${S}function_calls>`,
  kimi_k2: '<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city": "Paris", "days": 3}<|tool_call_end|><|tool_calls_section_end|>',
  minimax_m2: '<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Paris</parameter>\n<parameter name="days">3</parameter>\n</invoke>\n</minimax:tool_call>',
  step3: `<${S}tool_calls_begin${S}><${S}tool_call_begin${S}>function<${S}tool_sep${S}><steptml:invoke name="get_weather"><steptml:parameter name="city">Paris</steptml:parameter></steptml:invoke><${S}tool_call_end${S}><${S}tool_calls_end${S}>`,
  functionary: '<function=get_weather>{"city": "Paris", "days": 3}</function>',
  granite: '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}]',
  nemotron: '<TOOLCALL>[{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}]</TOOLCALL>',
  internlm2: '<|action_start|><|plugin|>\n{"name": "get_weather", "parameters": {"city": "Paris", "days": 3}}<|action_end|>',
  command_r7b: '<|START_ACTION|>[{"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"city": "Paris", "days": 3}}]<|END_ACTION|>',
  tool_calls_json: '<tool_calls>[{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}]</tool_calls>',
  phi4_mini: 'functools[{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}]',
  apertus: '<|tools_prefix|>[{"get_weather": {"city": "Paris", "days": 3}}]<|tools_suffix|>',
  gemma: '<|tool_call>call:get_weather{city:<|"|>Paris<|"|>,days:3}<tool_call|>',
  // No marker: bare JSON after the prose (whose braces, brackets and quotes the scan must pass over).
  'llama3_json after prose': '\n{"name": "get_weather", "parameters": {"city": "Paris", "days": 3}}',
  'none (plain text)': '',
};

const sentence = 'The forecast mentions rain in the north, {braces}, [brackets], `code` and "quotes" along the way. ';
function response(size: number, call: string): string {
  const prose = sentence.repeat(Math.ceil(Math.max(0, size - call.length) / sentence.length)).slice(0, Math.max(0, size - call.length));
  return prose + call;
}

const sizes = [1_024, 16_384, 262_144] as const;
const bench = new Bench({ time: TIME_MS, warmupTime: 100, timestampProvider: 'hrtimeNow' });
let sink = 0;
for (const [format, call] of Object.entries(calls)) {
  for (const size of sizes) {
    const text = response(size, call);
    bench.add(`${format} ${size / 1024} KB`, () => {
      sink += parserRegistry.parseWithFallback(text, { tools }).calls.length;
    });
  }
}
const streamed = ['hermes', 'qwen3_coder', 'minimax_m2', 'granite', 'llama3_json after prose'] as const;
for (const format of streamed) {
  for (const size of [16_384, 262_144]) {
    const text = response(size, calls[format]!);
    bench.add(`${format} ${size / 1024} KB streamed`, () => {
      const parser = parserRegistry.createStreamParser({ tools });
      for (let i = 0; i < text.length; i += 16) sink += parser.push(text.slice(i, i + 16)).calls.length;
      sink += parser.end().calls.length;
    });
  }
}
// One huge argument (a file written through a tool call): a block that stays open for the whole stream.
// After prose, such a block once copied all it had so far on every chunk (quadratic: 1.2 MB took 0.84 s).
const hugeArgument = (size: number) => `<tool_call>{"name": "get_weather", "arguments": {"city": "${'x'.repeat(size)}"}}</tool_call>`;
const openBlocks: Record<string, (size: number) => string> = {
  'one call with a huge argument': hugeArgument,
  'prose, then a call with a huge argument': (size) => response(size / 2, '') + hugeArgument(size / 2),
};
for (const [name, make] of Object.entries(openBlocks)) {
  for (const size of [16_384, 262_144]) {
    const text = make(size);
    bench.add(`${name} ${size / 1024} KB streamed`, () => {
      const parser = parserRegistry.createStreamParser({ tools });
      for (let i = 0; i < text.length; i += 16) sink += parser.push(text.slice(i, i + 16)).calls.length;
      sink += parser.end().calls.length;
    });
  }
}
const adversarial: Record<string, (size: number) => string> = {
  'unclosed <tool_call> + brackets': (n) => '<tool_call>' + '['.repeat(n),
  'repeated unclosed markers': (n) => '<tool_call>'.repeat(Math.floor(n / 11)),
  'backticks': (n) => '`'.repeat(n),
  'unclosed Qwen parameters': (n) => '<tool_call><function=f>' + '<parameter=a>x'.repeat(Math.floor(n / 14)),
  'marker soup': (n) => '[TOOL_CALLS]{"a": [<think>`'.repeat(Math.floor(n / 26)),
  'functools[ repeated, never closed': (n) => 'functools['.repeat(Math.floor(n / 10)),
  'Gemma strings never closed': (n) => '<|tool_call>' + 'call:f{a:<|"|>x'.repeat(Math.floor(n / 16)),
  'MiniMax invokes never closed': (n) => '<minimax:tool_call><invoke name="f"><parameter name="a">x'.repeat(Math.floor(n / 56)),
  'JSON objects opened after prose, never closed': (n) => 'Checking. ' + '{"a": '.repeat(Math.floor(n / 6)),
  'JSON values that are not calls, then a call': (n) => '{"x": 1} '.repeat(Math.floor(n / 9)) + '{"name": "get_weather", "parameters": {}}',
};
for (const [name, make] of Object.entries(adversarial)) {
  for (const size of [16_384, 262_144]) {
    const text = make(size);
    bench.add(`adversarial: ${name} ${size / 1024} KB`, () => {
      sink += parserRegistry.parseWithFallback(text, { tools }).content.length;
    });
  }
}
await bench.run();

function medianMs(name: string): number {
  const result = bench.getTask(name)?.result;
  if (result?.state !== 'completed' && result?.state !== 'aborted-with-statistics') throw new Error(`bench task "${name}" did not complete`);
  return result.latency.p50;
}
const fmtMs = (ms: number) => (ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(1)} µs`);

console.log(`node ${process.version}; parseWithFallback with one declared tool; median latency; throughput = size / median`);
console.table(
  Object.keys(calls).map((format) => {
    const row: Record<string, string> = { format };
    for (const size of sizes) {
      const ms = medianMs(`${format} ${size / 1024} KB`);
      row[`${size / 1024} KB`] = `${fmtMs(ms)} (${(size / 1_048_576 / (ms / 1000)).toFixed(0)} MB/s)`;
    }
    return row;
  }),
);
const growth = (input: string, task: (size: string) => string) => {
  const small = medianMs(task('16'));
  const large = medianMs(task('256'));
  const ratio = large / small;
  return { input, '16 KB': fmtMs(small), '256 KB': fmtMs(large), 'ratio (16 = linear)': ratio.toFixed(1), verdict: ratio <= 32 ? 'linear' : 'SUPERLINEAR' };
};
const linearity = [
  ...[...Object.keys(openBlocks), ...streamed].map((name) => growth(`${name}, streamed in 16-char chunks`, (kb) => `${name} ${kb} KB streamed`)),
  ...Object.keys(adversarial).map((name) => growth(`adversarial: ${name}`, (kb) => `adversarial: ${name} ${kb} KB`)),
];
console.table(linearity);
const bad = linearity.filter((l) => l.verdict !== 'linear');
console.log(bad.length === 0 ? 'verdict: every streamed and adversarial input parses in linear time' : `verdict: ${bad.length} input(s) grow faster than linear`);
if (sink === -1) console.log('unreachable');
process.exitCode = bad.length === 0 ? 0 : 1;
