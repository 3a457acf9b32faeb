// The host's heartbeat lines and its hooks event, as the supervisor reads them.
import { describe, expect, it } from 'vitest';
import { readHeartbeat, readHooks } from '../../../src/supervisor/heartbeat.js';

describe('the host heartbeat', () => {
  const beat = { event: 'heartbeat', busy: 1, stalled_ms: 250, instrumented: true, gen_alive: true };

  it('reads a beat with the count each hook has fired, and one from an older host without it', () => {
    expect(readHeartbeat({ ...beat, fired: { 'GenerationBatch.next': 12, generate_step: 0 } }, 5)).toEqual({ at: 5, busy: 1, stalledMs: 250, instrumented: true, genAlive: true, fired: { 'GenerationBatch.next': 12, generate_step: 0 } });
    expect(readHeartbeat(beat, 5)?.fired).toEqual({});
    expect(readHeartbeat({ ...beat, fired: { x: -1 } }, 5)).toBeUndefined();
  });

  it('reads the hooks event: each hook with its kind, whether this version should have it and whether it was found', () => {
    const event = {
      event: 'hooks',
      version: '0.32.2',
      hooks: [
        { name: 'GenerationBatch.next', kind: 'decode', installed: true, expected: true },
        { name: 'BatchGenerator.prompt_progress_callback', kind: 'prefill', installed: false, expected: false },
      ],
      missing: [],
    };
    expect(readHooks(event)).toEqual({ version: '0.32.2', hooks: event.hooks, missing: [] });
    expect(readHooks({ ...event, hooks: [{ name: 'x', kind: 'sometimes', installed: true, expected: true }] })).toBeUndefined();
    expect(readHooks(beat)).toBeUndefined();
  });
});
