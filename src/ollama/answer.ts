import { argumentsObject } from '../openai/index.js';

/** Which of Ollama's two answer shapes: a chat's `message`, or a generate's `response`. */
export type OllamaRoute = 'chat' | 'generate';

/** What one line (or a whole answer) carries. */
export interface AnswerPart {
  content: string;
  thinking?: string;
  /** Whole calls in OpenAI's shape (`{id, function: {name, arguments}}`, arguments as text). */
  calls?: Array<Record<string, unknown>>;
}

const NS_PER_MS = 1e6;

/**
 * The times Ollama reports with an answer's last line, in nanoseconds: from the request's
 * admission (`total_duration`), to its first token (`prompt_eval_duration`), and from there to its
 * end (`eval_duration`). A whole answer shows no first token: its time is all `eval_duration`
 * after a `prompt_eval_duration` of 0, so a client's tokens-per-second stays finite and low.
 * Nothing is loaded per request: `load_duration` is 0.
 */
export class AnswerClock {
  readonly started = performance.now();
  #firstAt: number | undefined;

  /** A token came: the first one ends the prompt's evaluation. */
  token(): void {
    this.#firstAt ??= performance.now();
  }

  durations(): { total_duration: number; load_duration: number; prompt_eval_duration: number; eval_duration: number } {
    const total = Math.round((performance.now() - this.started) * NS_PER_MS);
    const prompt = Math.round(((this.#firstAt ?? this.started) - this.started) * NS_PER_MS);
    return { total_duration: total, load_duration: 0, prompt_eval_duration: prompt, eval_duration: total - prompt };
  }
}

/** Ollama's tool calls: arguments as objects, an id and an index each (as Ollama 0.12 gives them). */
const ollamaToolCalls = (calls: ReadonlyArray<Record<string, unknown>>) =>
  calls.map((call, index) => {
    const fn = (call.function ?? {}) as Record<string, unknown>;
    return { ...(typeof call.id === 'string' ? { id: call.id } : {}), function: { index, name: fn.name, arguments: argumentsObject(fn.arguments) } };
  });

/** One line of an answer (not its last): a chat's message, or a generate's response. */
export function answerLine(route: OllamaRoute, model: string, part: AnswerPart): Record<string, unknown> {
  const created_at = new Date().toISOString();
  const thinking = part.thinking ? { thinking: part.thinking } : {};
  if (route === 'generate') return { model, created_at, response: part.content, ...thinking, done: false };
  const calls = part.calls?.length ? { tool_calls: ollamaToolCalls(part.calls) } : {};
  return { model, created_at, message: { role: 'assistant', content: part.content, ...thinking, ...calls }, done: false };
}

/** The fields of an answer's last line: why it ended, its counts and its times. */
export function answerEnd(finishReason: unknown, usage: unknown, clock: AnswerClock, fallbackEvalCount = 0): Record<string, unknown> {
  const counts = (usage ?? {}) as { prompt_tokens?: unknown; completion_tokens?: unknown };
  const { total_duration, load_duration, prompt_eval_duration, eval_duration } = clock.durations();
  return {
    done: true,
    // Ollama ends a tool call's turn with "stop" too.
    done_reason: finishReason === 'length' ? 'length' : 'stop',
    total_duration,
    load_duration,
    prompt_eval_count: typeof counts.prompt_tokens === 'number' ? counts.prompt_tokens : 0,
    prompt_eval_duration,
    eval_count: typeof counts.completion_tokens === 'number' ? counts.completion_tokens : fallbackEvalCount,
    eval_duration,
  };
}
