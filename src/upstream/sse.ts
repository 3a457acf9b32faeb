/** One event of mlx_lm.server's SSE stream. */
export type SseEvent = { type: 'data'; data: string } | { type: 'comment'; text: string } | { type: 'done' };

/**
 * Splits an SSE byte stream (as text) into events. mlx_lm.server writes `data: <json>\n\n` frames,
 * `: keepalive p/t` comments and `data: [DONE]`; nothing else. A frame longer than `maxFrameBytes`
 * is a protocol error rather than unbounded memory.
 */
export class SseParser {
  #pending = '';

  constructor(readonly maxFrameBytes = 8 * 1024 * 1024) {}

  push(text: string): SseEvent[] {
    this.#pending += text;
    const events: SseEvent[] = [];
    let start = 0;
    for (let end = this.#pending.indexOf('\n\n'); end >= 0; end = this.#pending.indexOf('\n\n', start)) {
      const frame = this.#pending.slice(start, end);
      start = end + 2;
      const event = parseFrame(frame);
      if (event) events.push(event);
    }
    this.#pending = this.#pending.slice(start);
    if (this.#pending.length > this.maxFrameBytes) throw new RangeError(`an SSE frame is longer than ${this.maxFrameBytes} bytes`);
    return events;
  }

  /** Whatever is left when the stream closes (a frame missing its blank line still counts). */
  end(): SseEvent[] {
    const rest = this.#pending.trim();
    this.#pending = '';
    const event = rest ? parseFrame(rest) : undefined;
    return event ? [event] : [];
  }
}

function parseFrame(frame: string): SseEvent | undefined {
  const data: string[] = [];
  let comment: string | undefined;
  for (const line of frame.split('\n')) {
    const clean = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (clean.startsWith(':')) comment = clean.slice(1).trim();
    else if (clean.startsWith('data:')) data.push(clean.slice(clean[5] === ' ' ? 6 : 5));
  }
  if (data.length === 0) return comment === undefined ? undefined : { type: 'comment', text: comment };
  const payload = data.join('\n');
  return payload === '[DONE]' ? { type: 'done' } : { type: 'data', data: payload };
}
