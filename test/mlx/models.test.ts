// Several models on the real mlx_lm.server (MLX on the CPU, the pinned versions
// scripts/setup-mlx.sh installs): the two test models scripts/make-mlx-models.py makes, each by a
// server of its own, switched on demand under a memory budget that holds one of them at a time.
import { describe, expect, it } from 'vitest';
import { realMlx } from '../support/mlx.js';
import { isAlive } from '../support/processes.js';
import { startSidecar } from '../support/sidecar.js';

const mlx = realMlx();
const MB = 1024 * 1024;

describe('two real MLX models in one mlx-guard', () => {
  it('each name loads its model on demand; under a budget that holds one, each switch unloads the other; the same greedy text each time the first comes back', async () => {
    // Estimated (weights, KV cache, the server's runtime): stories260K about 101 MB, slow about 183 MB; 250 MB holds one at a time.
    const { client, sidecar } = await startSidecar(
      {
        supervisor: { python: mlx.python },
        models: {
          served: [
            { name: 'stories', backend: 'mlx', model: mlx.stories, serverArgs: [] },
            { name: 'slow', backend: 'mlx', model: mlx.slow, serverArgs: [] },
          ],
          memoryBudgetBytes: 250 * MB,
        },
      },
      [],
      { atDefaults: true },
    );
    const [stories, slow] = sidecar.models.models;
    const ask = async (model: string) => {
      const asked = performance.now();
      const answer = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 12, temperature: 0 }, { timeout: 120_000 });
      return { text: answer.choices[0]!.text, ms: performance.now() - asked };
    };
    expect([stories!.supervisor.state, slow!.supervisor.state]).toEqual(['stopped', 'stopped']);
    const first = await ask('stories');
    expect(first.text).toMatch(/^, there was a little girl/);
    const storiesPid = stories!.supervisor.status.pid!;
    const loadMs = stories!.supervisor.status.lastTimeToReadyMs!;
    console.log(`switch to stories: request → answer ${first.ms.toFixed(0)} ms; the model server's own start ${loadMs} ms`);

    const other = await ask('slow');
    expect(other.text.length).toBeGreaterThan(0);
    expect([stories!.supervisor.state, slow!.supervisor.state]).toEqual(['stopped', 'ready']);
    expect(isAlive(storiesPid)).toBe(false);

    const again = await ask('stories');
    expect(again.text).toBe(first.text);
    expect([stories!.supervisor.state, slow!.supervisor.state]).toEqual(['ready', 'stopped']);
    expect(stories!.supervisor.status.pid).not.toBe(storiesPid);
    const held = (await sidecar.models.memoryHeld())!;
    expect(held.models.map(({ name }) => name)).toEqual(['stories']);
    expect(held.models[0]!.bytes).toBeLessThanOrEqual(250 * MB);
  }, 240_000);
});
