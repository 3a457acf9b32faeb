// Codex CLI itself (`codex exec`, the pinned npm release scripts/setup-clients.sh installs),
// headless, against mlx-guard in front of the stand-in scripted by turn: a shell call first, text
// after its output. A recording proxy between them keeps what Codex sent.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codexCommand } from '../support/clients.js';
import { privateDir, spawnProcess } from '../support/processes.js';
import { recordingProxy, type Recorded } from '../support/recording-proxy.js';
import { startSidecar } from '../support/sidecar.js';

const FINAL = 'The note says marmalade.';
/** Any HTTP the client tries beyond loopback goes to a closed port and fails at once. */
const LOOPBACK_ONLY = { HTTPS_PROXY: 'http://127.0.0.1:9', HTTP_PROXY: 'http://127.0.0.1:9', NO_PROXY: '127.0.0.1,localhost' };
const script = [{ tool_call: { name: 'exec_command', arguments: { cmd: 'cat note.txt' } } }, { text: FINAL }];

/** A Codex home whose only provider is mlx-guard (Responses wire, key from the environment), and a work directory with a note in it. */
function codexSetup(baseUrl: string, providerLines: string[]): { env: Record<string, string>; work: string } {
  const home = privateDir('mlx-guard-codex-home-');
  const work = join(privateDir('mlx-guard-codex-work-'), 'project');
  mkdirSync(work);
  writeFileSync(join(work, 'note.txt'), 'marmalade-42\n');
  writeFileSync(
    join(home, 'config.toml'),
    [
      // Codex offers a built-in web search unless told not to; a local model server cannot run one.
      'web_search = "disabled"',
      'model = "local-model"',
      'model_provider = "mlxguard"',
      '',
      '[model_providers.mlxguard]',
      'name = "mlx-guard"',
      `base_url = "${baseUrl}/v1"`,
      'env_key = "MLX_GUARD_KEY"',
      'wire_api = "responses"',
      ...providerLines,
      '',
    ].join('\n'),
  );
  return { env: { CODEX_HOME: home, MLX_GUARD_KEY: 'not-needed', NO_COLOR: '1', ...LOOPBACK_ONLY }, work };
}

async function codexExec(baseUrl: string, prompt: string, timeoutMs = 90_000, providerLines: string[] = []) {
  const { env, work } = codexSetup(baseUrl, providerLines);
  const codex = spawnProcess(codexCommand(), ['exec', '--skip-git-repo-check', '--sandbox', 'read-only', '-C', work, prompt], { env, cwd: work });
  codex.child.stdin?.end();
  const exit = await codex.exited(timeoutMs);
  return { exit, stdout: codex.stdout.join('\n'), stderr: codex.stderr.join('\n') };
}

const responsesCalls = (requests: Recorded[]) => requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/responses'));
const outputsSent = (request: Recorded) => ((request.body?.input as Array<Record<string, unknown>> | undefined) ?? []).filter((item) => item.type === 'function_call_output');

describe('Codex CLI against mlx-guard', () => {
  const how = { parsed: "as the model server's own", pieces: 'streamed in pieces, as llama.cpp and vLLM send them', 'raw:hermes': 'as Hermes markup mlx-guard parses' } as const;
  for (const toolCalls of ['parsed', 'pieces', 'raw:hermes'] as const) {
    it(`runs the model's shell call, sends its output back, prints the final answer and exits 0 (calls ${how[toolCalls]}; the answer streamed a token every 20 ms)`, async () => {
      const { url, faults } = await startSidecar();
      await faults({ script, tool_calls: toolCalls, token_delay_ms: 20 });
      const proxy = await recordingProxy(url);
      try {
        const run = await codexExec(proxy.url, 'What does note.txt say?');
        expect(run.exit, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toEqual({ code: 0, signal: null });
        expect(run.stdout).toContain(FINAL);
        const calls = responsesCalls(proxy.requests);
        expect(calls.map((call) => call.status)).toEqual([200, 200]);
        expect(calls.every((call) => call.body?.stream === true && call.body.store === false)).toBe(true);
        const [output] = outputsSent(calls[1]!);
        expect(String(output?.output)).toContain('marmalade-42');
        console.log(`codex exec (${toolCalls}): ${proxy.requests.map((r) => `${r.method} ${r.path} ${r.status}`).join(', ')}; tools declared: ${(calls[0]!.body!.tools as Array<{ type: string; name: string }>).map((t) => `${t.type}:${t.name}`).join(' ')}`);
      } finally {
        await proxy.close();
      }
    }, 120_000);
  }

  it("a long prefill: mlx-guard's keepalives keep Codex waiting past its idle timeout, and the answer comes", async () => {
    const { url, faults } = await startSidecar();
    // 6 s of prefill, a keepalive each second, against a stream idle timeout of 3 s.
    await faults({ script: [{ text: FINAL }], prefill_ms: 6_000, prefill_chunk_ms: 1_000 });
    const run = await codexExec(url, 'hello', 60_000, ['stream_idle_timeout_ms = 3000', 'stream_max_retries = 0']);
    expect(run.exit, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toEqual({ code: 0, signal: null });
    expect(run.stdout).toContain(FINAL);
  }, 90_000);

  it('with the inference breaker open: at once, a clear error and a non-zero exit', async () => {
    const { url, sidecar } = await startSidecar();
    const proxy = await recordingProxy(url);
    const hold = sidecar.inferenceBreaker.isolate();
    try {
      // Codex honours Retry-After (the time until the breaker tries the model server again; 60 s
      // while held open by hand) for up to request_max_retries (4) tries: at its defaults it
      // waits, silently, and goes on once the server is back. With retries off it shows at once
      // what mlx-guard said.
      const started = Date.now();
      const run = await codexExec(proxy.url, 'hello', 30_000, ['request_max_retries = 0', 'stream_max_retries = 0']);
      const ms = Date.now() - started;
      console.log(`codex exec with the breaker open: exit ${JSON.stringify(run.exit)} after ${ms} ms`);
      expect(run.exit.code).not.toBe(0);
      expect(run.stderr).toContain('503 Service Unavailable: the model server is failing (inference: circuit is isolated');
      expect(responsesCalls(proxy.requests).map((call) => call.status)).toEqual([503]);
    } finally {
      hold.dispose();
      await proxy.close();
    }
  }, 60_000);
});
