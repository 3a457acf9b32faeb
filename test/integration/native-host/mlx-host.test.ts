// native-host/mlx_host.py: the host exits instead of orphaning or zombifying the model server,
// reports each lifecycle step as a JSON line on its own stream, and passes arguments through.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isAlive, nativeHost, python, spawnProcess, until } from '../../support/processes.js';
import { post, rawRequest } from '../../support/raw-http.js';

const host = `${nativeHost}/mlx_host.py`;
const fakeMlx = fileURLToPath(new URL('../../fixtures/fake-mlx', import.meta.url));
const withFakeMlx = { PYTHONPATH: fakeMlx };

function startHost(hostArgs: string[], serverArgs: string[], env: Record<string, string> = {}) {
  return spawnProcess(python, [host, '--events-fd', '3', ...hostArgs, '--', ...serverArgs], { events: true, env });
}

const event = (spawned: { events: Array<Record<string, unknown>> }, name: string) =>
  until(`the "${name}" event`, () => spawned.events.find((e) => e.event === name));

describe('mlx_host.py', () => {
  it('hosts the stand-in and reports started, listening and model_loaded on fd 3, apart from the logs', async () => {
    const hosted = startHost(['--backend', 'standin'], ['--port', '0', '--model', 'local/model', '--load-time-ms', '100']);
    const started = await event(hosted, 'started');
    expect(started).toMatchObject({ pid: hosted.pid, backend: 'standin', version: '0.32.0' });
    const listening = await event(hosted, 'listening');
    expect(listening).toMatchObject({ host: '127.0.0.1', port: expect.any(Number) });
    expect(await event(hosted, 'model_loaded')).toMatchObject({ model: 'default_model', load_ms: expect.any(Number) });
    expect((await rawRequest(listening.port as number, 'GET /health HTTP/1.1\r\n\r\n')).status).toBe(200);
    expect(hosted.stdout.filter((l) => l.startsWith('{"event"'))).toEqual([]);
    expect(hosted.stderr.some((l) => l.includes('Starting httpd'))).toBe(true);
  });

  it('passes the server arguments through to mlx_lm.server unchanged', async () => {
    const hosted = startHost([], ['--port', '0', '--model', 'org/model'], withFakeMlx);
    expect(await event(hosted, 'started')).toMatchObject({ backend: 'mlx', version: '0.32.0+fake' });
    const listening = await event(hosted, 'listening');
    expect(JSON.parse((await rawRequest(listening.port as number, post('/v1/chat/completions', '{}'))).body).choices[0].message.content).toBe('generated');
    expect(await event(hosted, 'model_loaded')).toMatchObject({ model: 'default_model' });
  });

  it('says which hooks it installed, and names on stderr those this mlx_lm version should have but lacks', async () => {
    const hosted = startHost([], ['--port', '0', '--model', 'org/model'], withFakeMlx);
    const hooks = (await event(hosted, 'hooks')) as { version: string; hooks: Array<{ name: string; installed: boolean; expected: boolean }>; missing: string[] };
    expect(hooks.version).toBe('0.32.0+fake');
    // The fake has BatchGenerator.next, APIHandler.handle_completion and ResponseGenerator, not the rest of 0.32's names.
    expect(hooks.hooks.filter((h) => h.installed).map((h) => h.name)).toEqual(['BatchGenerator.next', 'APIHandler.handle_completion', 'ResponseGenerator']);
    expect(hooks.missing).toEqual(['generate_step', 'generate_step.prompt_progress_callback', 'speculative_generate_step', 'PromptProcessingBatch.prompt', 'GenerationBatch.next']);
    expect(hooks.missing).not.toContain('BatchGenerator.prompt_progress_callback'); // only 0.28.4-0.31.1 have it
    await until('the warning on stderr', () => (hosted.stderr.some((l) => l.startsWith('mlx_host: mlx_lm 0.32.0+fake lacks generate_step')) ? true : undefined));
    // Each beat counts the calls of every installed hook: the server made its ResponseGenerator once.
    const beat = await until('a beat after the server started', () => hosted.events.find((e) => e.event === 'heartbeat' && (e.fired as Record<string, number>).ResponseGenerator === 1));
    expect(Object.keys(beat.fired as object)).toEqual(['BatchGenerator.next', 'APIHandler.handle_completion', 'ResponseGenerator']);
  });

  it('when its stdin closes, it ends its whole process group', async () => {
    const hosted = startHost(['--backend', 'standin'], ['--port', '0']);
    await event(hosted, 'listening');
    hosted.child.stdin!.end();
    expect(await hosted.exited()).toEqual({ code: null, signal: 'SIGKILL' });
    expect(hosted.events.map((e) => e.event).filter((e) => e !== 'heartbeat')).toEqual(['started', 'hooks', 'listening', 'parent_gone', 'exiting']);
  });

  it('beats once a second from its own thread: idle, busy and stalled inside a step, silent while stopped', async () => {
    const hosted = startHost(['--backend', 'standin'], ['--port', '0', '--control']);
    const { port } = (await event(hosted, 'listening')) as { port: number };
    const beats = (after: number) => hosted.events.filter((e) => e.event === 'heartbeat' && (e.time as number) > after);
    const next = (what: string, after: number, match: (beat: Record<string, unknown>) => boolean) => until(what, () => beats(after).find(match), 5_000);
    expect(await next('an idle beat', 0, () => true)).toMatchObject({ busy: 0, stalled_ms: 0, instrumented: true });
    await rawRequest(port, post('/__standin/faults', '{"hang_after_prefill": true}'));
    void rawRequest(port, post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], stream: true })), 10_000).catch(() => undefined);
    const stalled = await next('a busy, stalled beat', 0, (b) => (b.stalled_ms as number) >= 1_500);
    expect(stalled).toMatchObject({ busy: 1, in_step: true, gen_alive: true });
    process.kill(hosted.pid, 'SIGSTOP');
    const stoppedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(beats(stoppedAt + 100)).toEqual([]);
    process.kill(hosted.pid, 'SIGCONT');
    await next('a beat after SIGCONT', Date.now(), () => true);
  });

  it('when its stdin closes and it leads no process group, it exits with code 5', async () => {
    // A Python parent runs the host inside its own group, with stdin at end-of-file from the start.
    const script = `import subprocess, sys; sys.exit(subprocess.run([sys.executable, ${JSON.stringify(host)}, '--backend', 'standin', '--', '--port', '0'], stdin=subprocess.DEVNULL).returncode)`;
    const wrapper = spawnProcess(python, ['-c', script]);
    expect((await wrapper.exited()).code).toBe(5);
  });

  it('a parent killed with SIGKILL leaves no model server behind', async () => {
    const parent = spawnProcess(process.execPath, [
      fileURLToPath(new URL('../../fixtures/host-parent.mjs', import.meta.url)),
      python,
      host,
      '--backend',
      'standin',
      '--',
      '--port',
      '0',
    ]);
    const { hostPid } = await until('the host pid', () => (parent.stdout[0] ? (JSON.parse(parent.stdout[0]) as { hostPid: number }) : undefined));
    try {
      await until('the host to be running', () => (isAlive(hostPid) ? true : undefined));
      process.kill(parent.pid, 'SIGKILL');
      await until('the host to exit after its parent died', () => (isAlive(hostPid) ? undefined : true), 2_000);
    } finally {
      if (isAlive(hostPid)) process.kill(-hostPid, 'SIGKILL');
    }
  });

  it('exits with code 4 when the generation thread dies, instead of serving as a zombie', async () => {
    const hosted = startHost([], ['--port', '0'], withFakeMlx);
    const { port } = await event(hosted, 'listening');
    void rawRequest(port as number, post('/die', '{}')).catch(() => undefined);
    expect((await hosted.exited()).code).toBe(4);
    expect(hosted.stderr).toContain('Exception in thread Thread-1 (_generate):');
    expect(hosted.events.find((e) => e.event === 'fatal')).toMatchObject({
      reason: 'generation_thread_died',
      error: 'RuntimeError: [metal::malloc] Resource limit (499000) exceeded.',
    });
  });

  it('turns the stand-in’s zombie into the same exit 4', async () => {
    const hosted = startHost(['--backend', 'standin'], ['--port', '0', '--zombie']);
    const { port } = await event(hosted, 'listening');
    void rawRequest(port as number, post('/v1/chat/completions', '{"messages": []}')).catch(() => undefined);
    expect((await hosted.exited()).code).toBe(4);
  });

  it('exits with code 6 when the port is taken, instead of running on without a socket', async () => {
    const hosted = startHost(['--backend', 'standin'], ['--port', '0', '--bind-failure']);
    expect((await hosted.exited()).code).toBe(6);
    expect(hosted.events.find((e) => e.event === 'fatal')).toMatchObject({ reason: 'address_in_use' });
    expect(hosted.stderr.some((l) => l.includes('Address already in use'))).toBe(true);
  });

  it('a flag the installed mlx_lm does not know: argparse’s exit code 2, reported as bad_arguments', async () => {
    const hosted = startHost([], ['--port', '0', '--no-such-flag'], withFakeMlx);
    expect((await hosted.exited()).code).toBe(2);
    expect(hosted.stderr.join('\n')).toContain('unrecognized arguments: --no-such-flag');
    expect(hosted.events.find((e) => e.event === 'fatal')).toMatchObject({ reason: 'bad_arguments' });
  });

  it('mlx_lm not importable: a message naming the fix, and exit code 3', async () => {
    const hosted = startHost([], ['--port', '0'], { PYTHONPATH: '' });
    expect((await hosted.exited()).code).toBe(3);
    expect(hosted.stderr.join('\n')).toMatch(/mlx_host: cannot import mlx_lm with .*No module named 'mlx_lm'[\s\S]*pip install mlx-lm/);
    expect(hosted.events.find((e) => e.event === 'fatal')).toMatchObject({ reason: 'mlx_lm_not_importable' });
  });
});
