// mlx-guard under test: its own process, started as `npm start` starts it, at its defaults, in front
// of the stand-in. No vitest import: `npm run chaos` runs this outside the test runner.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { environmentVariable } from '../support/proc.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(repoRoot, 'src/cli.ts');

/** Markers the stand-in is started with: a request carrying one crashes the server at its prefill, or is dropped. */
export const POISON_MARKER = 'CHAOS-POISON';
export const DROP_MARKER = 'CHAOS-DROP';

export interface LogRecord {
  level: number;
  time: number;
  event?: string;
  msg?: string;
  [field: string]: unknown;
}

export interface ModelServerStatus {
  state: string;
  pid: number | undefined;
  baseUrl: string | undefined;
  inflight: number;
}

export class Guard {
  readonly stderr: string[] = [];
  #listeners: Array<(record: LogRecord) => void> = [];
  #exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  url = '';

  private constructor(
    readonly child: ChildProcess,
    /** The campaign's private directory: every process of the campaign has it in its command line. */
    readonly dir: string,
    /** A file the stand-in reads at each launch (its load faults). */
    readonly launchFaults: string,
  ) {
    this.#exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    let pending = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) this.#line(line);
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => this.stderr.push(...chunk.split('\n').filter(Boolean)));
  }

  /** Starts mlx-guard; `onLog` sees every line it logs from the first. */
  static async start(onLog: (record: LogRecord) => void, logFile?: string): Promise<Guard> {
    const dir = mkdtempSync(join(tmpdir(), 'mlx-guard-chaos-'));
    const launchFaults = join(dir, 'launch-faults.json');
    // Given a model, the stand-in loads it at start on its generation thread, as the real server does.
    const serverArgs = ['--control', '--crash-on-marker', POISON_MARKER, '--drop-on-marker', DROP_MARKER, '--launch-faults', launchFaults];
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ supervisor: { model: 'chaos-org/chaos-model', runDir: join(dir, 'run'), serverArgs } }));
    const child = spawn(process.execPath, ['--import', 'tsx', cli, 'start', '--port', '0', '--backend', 'standin', '--log-format', 'json', '--config', join(dir, 'config.json')], {
      cwd: repoRoot,
      detached: true,
      env: { ...process.env, MLX_GUARD_LOG_LEVEL: 'info', PYTHONUNBUFFERED: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const guard = new Guard(child, dir, launchFaults);
    guard.onLog(onLog);
    if (logFile) {
      const log = createWriteStream(logFile);
      guard.onLog((record) => log.write(`${JSON.stringify(record)}\n`));
      child.once('exit', () => log.end());
    }
    guard.url = await guard.#serving(60_000);
    return guard;
  }

  get pid(): number {
    return this.child.pid!;
  }

  onLog(listener: (record: LogRecord) => void): void {
    this.#listeners.push(listener);
  }

  #line(line: string): void {
    let record: LogRecord;
    try {
      record = JSON.parse(line) as LogRecord;
    } catch {
      record = { level: 60, time: Date.now(), event: 'not_json', msg: line };
    }
    for (const listener of this.#listeners) listener(record);
  }

  #serving(timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`mlx-guard did not serve within ${timeoutMs} ms; stderr: ${this.stderr.join(' | ')}`)), timeoutMs);
      this.onLog((record) => {
        if (record.event !== 'serving') return;
        clearTimeout(timer);
        resolve(String(record.url));
      });
      void this.#exit.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`mlx-guard exited (${code ?? signal}) before serving; stderr: ${this.stderr.join(' | ')}`));
      });
    });
  }

  async status(): Promise<ModelServerStatus> {
    const response = await fetch(`${this.url}/status`, { signal: AbortSignal.timeout(5_000) });
    const body = (await response.json()) as { modelServer: { state: string; pid?: number; baseUrl?: string }; inflight: number };
    return { state: body.modelServer.state, pid: body.modelServer.pid, baseUrl: body.modelServer.baseUrl, inflight: body.inflight };
  }

  /**
   * Sets the stand-in's run-time faults through its control endpoint, with the launch's key (read
   * from the model server's environment in /proc, so Linux: only mlx-guard is given it). False when no server is
   * serving to take them (it is restarting).
   */
  async setFaults(faults: Record<string, unknown>): Promise<boolean> {
    const status = await this.status().catch(() => undefined);
    if (!status?.baseUrl || status.pid === undefined || (status.state !== 'ready' && status.state !== 'degraded')) return false;
    const key = environmentVariable(status.pid, 'MLX_HOST_API_KEY');
    try {
      const response = await fetch(`${status.baseUrl}/__standin/faults`, {
        method: 'POST',
        headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
        body: JSON.stringify(faults),
        signal: AbortSignal.timeout(3_000),
      });
      await response.arrayBuffer();
      return response.ok;
    } catch {
      return false;
    }
  }

  exited(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'running'> {
    return Promise.race([this.#exit, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), timeoutMs).unref())]);
  }

  signal(signal: NodeJS.Signals): void {
    try {
      process.kill(this.pid, signal);
    } catch {
      // ESRCH: already gone
    }
  }

  /** Ends mlx-guard's group, whatever is left of it (the campaign's clean-up, after its checks). */
  killGroup(): void {
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // ESRCH: already gone
    }
  }
}

