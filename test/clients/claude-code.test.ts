// Claude Code itself (`claude -p`, the pinned npm release scripts/setup-clients.sh installs),
// headless, with ANTHROPIC_BASE_URL at mlx-guard in front of the stand-in scripted by turn: a
// Read of a file first, text after its result. A recording proxy between them keeps what Claude
// Code sent: every request it made is listed, and each must have been answered.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claudeCommand } from '../support/clients.js';
import { privateDir, spawnProcess } from '../support/processes.js';
import { recordingProxy } from '../support/recording-proxy.js';
import { startSidecar } from '../support/sidecar.js';

const FINAL = 'The note says marmalade.';

async function claudePrint(baseUrl: string, work: string, prompt: string) {
  const home = privateDir('mlx-guard-claude-home-');
  const env = {
    HOME: home,
    ANTHROPIC_BASE_URL: baseUrl,
    ANTHROPIC_API_KEY: 'not-needed',
    // No traffic but the model's: no telemetry, error reports, update checks or feature flags.
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_AUTOUPDATER: '1',
    // Any HTTP it tries beyond loopback goes to a closed port and fails at once.
    HTTPS_PROXY: 'http://127.0.0.1:9',
    HTTP_PROXY: 'http://127.0.0.1:9',
    NO_PROXY: '127.0.0.1,localhost',
  };
  const claude = spawnProcess(claudeCommand(), ['-p', prompt, '--allowedTools', 'Read'], { env, cwd: work });
  claude.child.stdin?.end();
  const exit = await claude.exited(90_000);
  return { exit, stdout: claude.stdout.join('\n'), stderr: claude.stderr.join('\n') };
}

describe('Claude Code against mlx-guard', () => {
  for (const toolCalls of ['parsed', 'raw:hermes'] as const) {
    it(`runs the model's Read, sends the tool_result back, prints the final answer and exits 0 (calls ${toolCalls === 'parsed' ? "as the model server's own" : 'as Hermes markup mlx-guard parses'})`, async () => {
      const work = join(privateDir('mlx-guard-claude-work-'), 'project');
      mkdirSync(work);
      writeFileSync(join(work, 'note.txt'), 'marmalade-42\n');
      const { url, faults } = await startSidecar();
      await faults({ script: [{ tool_call: { name: 'Read', arguments: { file_path: join(work, 'note.txt') } } }, { text: FINAL }], tool_calls: toolCalls });
      const proxy = await recordingProxy(url);
      try {
        const run = await claudePrint(proxy.url, work, 'What does note.txt say?');
        console.log(`claude -p (${toolCalls}): ${proxy.requests.map((r) => `${r.method} ${r.path} model=${String(r.body?.model)} → ${r.status}`).join('; ')}`);
        expect(run.exit, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toEqual({ code: 0, signal: null });
        expect(run.stdout).toContain(FINAL);
        // Every request Claude Code made was answered (titles, count_tokens or whatever else it sends).
        expect(proxy.requests.filter((r) => r.status !== 200)).toEqual([]);
        const turns = proxy.requests.filter((r) => r.path.startsWith('/v1/messages') && !r.path.startsWith('/v1/messages/count_tokens') && Array.isArray(r.body?.tools) && (r.body.tools as unknown[]).length > 0);
        expect(turns.length).toBeGreaterThanOrEqual(2);
        const lastUser = (turns[1]!.body!.messages as Array<{ role: string; content: unknown }>).at(-1)!;
        expect(JSON.stringify(lastUser.content)).toMatch(/tool_result.*marmalade-42/);
      } finally {
        await proxy.close();
      }
    }, 120_000);
  }
});
