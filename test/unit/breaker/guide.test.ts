// TypeScript twins of every example and unit test in the circuit-breaker guide the API was designed from,
// in the order the guide gives them. Seconds in the guide are milliseconds here.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, CircuitBreakerError, CircuitBreakerState, parserRegistry } from '../../../src/index.js';
import { manualClock } from '../../support/clock.js';
import { startLoopbackServer, type LoopbackServer } from '../../support/loopback-server.js';

class ValueError extends Error {
  override name = 'ValueError';
}

/** Offers `breaker` `times` failing calls, swallowing the callee's error (and refusals once it is open). */
function failTimes(breaker: CircuitBreaker, times: number): void {
  for (let i = 0; i < times; i++) {
    try {
      breaker.call(() => {
        throw new ValueError('Test error');
      });
    } catch (error) {
      if (!(error instanceof ValueError || error instanceof CircuitBreakerError)) throw error;
    }
  }
}

let healthy: LoopbackServer;
let failing: LoopbackServer;

beforeAll(async () => {
  healthy = await startLoopbackServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => res.end(`echo: ${(JSON.parse(body) as { prompt: string }).prompt}`));
  });
  failing = await startLoopbackServer((_req, res) => {
    res.statusCode = 500;
    res.end('Metal out of memory');
  });
});

afterAll(async () => {
  await healthy.close();
  await failing.close();
});

async function postPrompt(baseUrl: string, prompt: string): Promise<string> {
  const response = await fetch(`${baseUrl}/v1/messages`, {
    method: 'POST',
    body: JSON.stringify({ prompt }),
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok) throw new Error(`MLX server answered ${response.status}`);
  return response.text();
}

describe('Basic usage: wrapping a function', () => {
  it('returns the server response while closed and the fallback once open', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 5, recoveryTimeout: 60_000, name: 'mlx_server' });
    const getFallbackResponse = () => 'fallback';
    const callMlxServer = (baseUrl: string, prompt: string) => postPrompt(baseUrl, prompt);

    expect(await breaker.call(callMlxServer, healthy.url, 'Hello, world!')).toBe('echo: Hello, world!');

    for (let i = 0; i < 5; i++) await expect(breaker.call(callMlxServer, failing.url, 'Hello')).rejects.toThrow('500');
    let response: string;
    try {
      response = await breaker.call(callMlxServer, healthy.url, 'Hello, world!');
    } catch (error) {
      if (!(error instanceof CircuitBreakerError)) throw error;
      response = getFallbackResponse();
    }
    expect(response).toBe('fallback');
  });
});

describe('With tool parsers', () => {
  it('parses through the breaker, then switches to text mode when the parser keeps failing', () => {
    const breaker = new CircuitBreaker({ name: 'tool_parsing' });
    const parseTools = (response: string) => breaker.call(parserRegistry.parseWithFallback, response);

    expect(parseTools('<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>')).toMatchObject({
      status: 'ok',
      calls: [{ name: 'get_weather', arguments: { city: 'Paris' } }],
    });
    // The parser never throws on model text; a failing parser (a worker that died, say) is what trips it.
    const failingParser = () => breaker.call(() => {
      throw new Error('parser worker crashed');
    });
    for (let i = 0; i < 5; i++) expect(failingParser).toThrow('parser worker crashed');

    let tools: ReturnType<typeof parserRegistry.parseWithFallback> | null;
    try {
      tools = parseTools('<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>');
    } catch (error) {
      if (!(error instanceof CircuitBreakerError)) throw error;
      tools = null; // text mode
    }
    expect(tools).toBeNull();
  });
});

describe('Configuration', () => {
  it('threshold: 3 trips faster, 10 tolerates more, 5 is the default', () => {
    for (const [options, trips] of [
      [{ failureThreshold: 3 }, 3],
      [{ failureThreshold: 10 }, 10],
      [{}, 5],
    ] as const) {
      const breaker = new CircuitBreaker(options);
      failTimes(breaker, trips - 1);
      expect(breaker.getState()).toBe(CircuitBreakerState.CLOSED);
      failTimes(breaker, 1);
      expect(breaker.getState()).toBe(CircuitBreakerState.OPEN);
    }
  });

  it('recovery timeout: 10 s, 120 s, and 60 s by default', () => {
    for (const [options, waitMs] of [
      [{ recoveryTimeout: 10_000 }, 10_000],
      [{ recoveryTimeout: 120_000 }, 120_000],
      [{}, 60_000],
    ] as const) {
      const clock = manualClock();
      const breaker = new CircuitBreaker({ ...options, failureThreshold: 1, clock: clock.now });
      failTimes(breaker, 1);
      clock.advance(waitMs - 1);
      expect(breaker.getState()).toBe(CircuitBreakerState.OPEN);
      clock.advance(1);
      expect(breaker.getState()).toBe(CircuitBreakerState.HALF_OPEN);
    }
  });

  it('success threshold: 1 success closes by default, 3 when asked', () => {
    for (const threshold of [undefined, 3]) {
      const clock = manualClock();
      const breaker = new CircuitBreaker({ halfOpenSuccessThreshold: threshold, failureThreshold: 1, recoveryTimeout: 1_000, clock: clock.now });
      failTimes(breaker, 1);
      clock.advance(1_000);
      for (let i = 1; i < (threshold ?? 1); i++) {
        breaker.call(() => 'ok');
        expect(breaker.getState()).toBe(CircuitBreakerState.HALF_OPEN);
      }
      breaker.call(() => 'ok');
      expect(breaker.getState()).toBe(CircuitBreakerState.CLOSED);
    }
  });
});

describe('Monitoring', () => {
  it('check current state', () => {
    const breaker = new CircuitBreaker({ name: 'mlx_server' });
    const state = breaker.getState();
    const said = state === CircuitBreakerState.OPEN ? 'Service is failing!' : state === CircuitBreakerState.HALF_OPEN ? 'Testing recovery...' : 'Service is healthy';
    expect(`Current state: ${state}`).toBe('Current state: closed');
    expect(said).toBe('Service is healthy');
  });

  it('get metrics, with the state change history', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeout: 100, clock: clock.now });
    breaker.call(() => 'ok');
    failTimes(breaker, 1);
    clock.advance(100);
    breaker.call(() => 'ok');

    const metrics = breaker.getMetrics();
    const lines = [
      `Total calls: ${metrics.totalCalls}`,
      `Successes: ${metrics.successes}`,
      `Failures: ${metrics.failures}`,
      `Rejections: ${metrics.rejections}`,
      `Failure rate: ${(metrics.failureRate * 100).toFixed(1)}%`,
      `Rejection rate: ${(metrics.rejectionRate * 100).toFixed(1)}%`,
      ...metrics.stateChanges.map((change) => `  ${change.timestamp}: ${change.fromState} -> ${change.toState}`),
    ];
    const t0 = clock.now() - 100;
    expect(lines).toEqual([
      'Total calls: 3',
      'Successes: 2',
      'Failures: 1',
      'Rejections: 0',
      'Failure rate: 33.3%',
      'Rejection rate: 0.0%',
      `  ${t0}: closed -> open`,
      `  ${t0 + 100}: open -> half_open`,
      `  ${t0 + 100}: half_open -> closed`,
    ]);
  });

  it('real-time monitoring prints the status every 10 seconds', () => {
    vi.useFakeTimers();
    try {
      const breaker = new CircuitBreaker({ name: 'mlx_server' });
      const printed: string[] = [];
      const monitorBreaker = () => {
        const metrics = breaker.getMetrics();
        const state = breaker.getState();
        printed.push(`[${state.toUpperCase()}]`);
        printed.push(`  Calls: ${metrics.totalCalls} (Success: ${metrics.successes}, Fail: ${metrics.failures}, Reject: ${metrics.rejections})`);
        printed.push(`  Failure rate: ${(metrics.failureRate * 100).toFixed(1)}%`);
        printed.push(`  Rejection rate: ${(metrics.rejectionRate * 100).toFixed(1)}%`);
      };
      // Node's counterpart of a daemon thread: an unref'd interval never keeps the process alive.
      const monitor = setInterval(monitorBreaker, 10_000);
      monitor.unref();
      breaker.call(() => 'ok');
      vi.advanceTimersByTime(20_000);
      clearInterval(monitor);
      expect(printed).toHaveLength(8);
      expect(printed.slice(0, 2)).toEqual(['[CLOSED]', '  Calls: 1 (Success: 1, Fail: 0, Reject: 0)']);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('Error handling', () => {
  it('catching CircuitBreakerError falls back to a cached or default result', () => {
    const breaker = new CircuitBreaker({ name: 'api_call', failureThreshold: 1 });
    const someApiCall = (a: number, b: number): number => {
      if (a < 0) throw new ValueError('negative');
      return a + b;
    };
    const getCachedResult = (): number | undefined => undefined;
    const getDefaultResult = () => 0;

    expect(breaker.call(someApiCall, 1, 2)).toBe(3);
    expect(() => breaker.call(someApiCall, -1, 2)).toThrow(ValueError);
    let result: number;
    let said = '';
    try {
      result = breaker.call(someApiCall, 1, 2);
    } catch (error) {
      if (!(error instanceof CircuitBreakerError)) throw error;
      said = `Circuit is open: ${error.message}`;
      result = getCachedResult() ?? getDefaultResult();
    }
    expect(result).toBe(0);
    expect(said).toBe('Circuit is open: api_call: circuit is open');
  });

  it('error types: the breaker error while open, the function’s own error otherwise', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2 });
    const riskyFunction = (): never => {
      throw new ValueError('risky');
    };
    const outcome = () => {
      try {
        breaker.call(riskyFunction);
        return 'no error';
      } catch (error) {
        if (error instanceof CircuitBreakerError) return 'Circuit open!';
        if (error instanceof ValueError) return 'risky_function raised ValueError';
        return `Unexpected error: ${String(error)}`;
      }
    };
    expect([outcome(), outcome(), outcome()]).toEqual(['risky_function raised ValueError', 'risky_function raised ValueError', 'Circuit open!']);
  });
});

describe('Integration examples', () => {
  /** The guide's requests Session with Retry(total=3): retries a failed request up to three times. */
  function createSessionWithRetry(total = 3) {
    return {
      async post(url: string, body: unknown, timeoutMs: number): Promise<string> {
        let lastError: unknown;
        for (let attempt = 0; attempt <= total; attempt++) {
          try {
            const response = await fetch(url, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
            if (response.status < 500) return await response.text();
            lastError = new Error(`status ${response.status}`);
          } catch (error) {
            lastError = error;
          }
        }
        throw lastError;
      },
    };
  }

  it('with request retry: the breaker counts one failure per exhausted retry, then answers the fallback', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 5, recoveryTimeout: 60_000, name: 'mlx_server' });
    const session = createSessionWithRetry();
    const callWithProtection = async (baseUrl: string, prompt: string): Promise<string> => {
      const wrappedCall = () => session.post(`${baseUrl}/v1/messages`, { prompt }, 30_000);
      try {
        return await breaker.call(wrappedCall);
      } catch (error) {
        if (error instanceof CircuitBreakerError) return 'Circuit breaker open, service unavailable';
        throw error;
      }
    };

    expect(await callWithProtection(healthy.url, 'hi')).toBe('echo: hi');
    for (let i = 0; i < 5; i++) await expect(callWithProtection(failing.url, 'hi')).rejects.toThrow('status 500');
    expect(await callWithProtection(healthy.url, 'hi')).toBe('Circuit breaker open, service unavailable');
    expect(breaker.getMetrics().failures).toBe(5);
  });

  it('with logging: a warning names the state change, an error names the failure', () => {
    const logs: string[] = [];
    const logger = { info: (m: string) => logs.push(`INFO ${m}`), warning: (m: string) => logs.push(`WARNING ${m}`), error: (m: string) => logs.push(`ERROR ${m}`) };
    const breaker = new CircuitBreaker({ name: 'mlx_server', failureThreshold: 1 });
    const someFunction = (prompt: string) => {
      if (prompt === 'boom') throw new ValueError('model crashed');
      return prompt.toUpperCase();
    };
    const loggedCall = (prompt: string) => {
      const stateBefore = breaker.getState();
      try {
        const result = breaker.call(someFunction, prompt);
        logger.info(`Success: ${prompt.slice(0, 50)}...`);
        return result;
      } catch (error) {
        const stateAfter = breaker.getState();
        if (stateBefore !== stateAfter) logger.warning(`Circuit state changed: ${stateBefore} -> ${stateAfter}`);
        logger.error(`Error: ${(error as Error).message}`);
        throw error;
      }
    };

    expect(loggedCall('hello')).toBe('HELLO');
    expect(() => loggedCall('boom')).toThrow(ValueError);
    expect(() => loggedCall('hello')).toThrow(CircuitBreakerError);
    expect(logs).toEqual([
      'INFO Success: hello...',
      'WARNING Circuit state changed: closed -> open',
      'ERROR Error: model crashed',
      'ERROR Error: mlx_server: circuit is open',
    ]);
  });

  it('with metrics export: JSON with name, state, metrics and state changes', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ name: 'mlx_server', failureThreshold: 1, clock: clock.now });
    breaker.call(() => 'ok');
    failTimes(breaker, 1);
    const exportMetrics = () => {
      const metrics = breaker.getMetrics();
      const state = breaker.getState();
      const data = {
        name: breaker.name,
        state,
        metrics: {
          total_calls: metrics.totalCalls,
          successes: metrics.successes,
          failures: metrics.failures,
          rejections: metrics.rejections,
          failure_rate: metrics.failureRate,
          rejection_rate: metrics.rejectionRate,
        },
        state_changes: metrics.stateChanges,
      };
      return JSON.stringify(data, null, 2);
    };
    expect(JSON.parse(exportMetrics())).toEqual({
      name: 'mlx_server',
      state: 'open',
      metrics: { total_calls: 2, successes: 1, failures: 1, rejections: 0, failure_rate: 0.5, rejection_rate: 0 },
      state_changes: [{ timestamp: clock.now(), fromState: 'closed', toState: 'open', reason: 'failure_threshold' }],
    });
  });
});

describe('Performance examples (the figures themselves come from npm run bench)', () => {
  it('overhead measurement: 10,000 calls run and are all counted', () => {
    const breaker = new CircuitBreaker({ name: 'test' });
    const fastFunction = () => 'ok';
    const iterations = 10_000;
    const start = performance.now();
    for (let i = 0; i < iterations; i++) {
      try {
        breaker.call(fastFunction);
      } catch {
        // the guide's bare except: nothing fails here
      }
    }
    const perCallMs = (performance.now() - start) / iterations;
    expect(Number.isFinite(perCallMs)).toBe(true);
    expect(breaker.getMetrics()).toMatchObject({ totalCalls: iterations, successes: iterations });
  });

  it('under load: 100 concurrent calls from 10 workers all succeed', async () => {
    const breaker = new CircuitBreaker({ name: 'load_test' });
    const apiCall = async () => {
      await new Promise((resolve) => setImmediate(resolve)); // stands in for the 10 ms API call
      return 'ok';
    };
    const queue = Array.from({ length: 100 }, () => () => breaker.call(apiCall));
    const results: string[] = [];
    const worker = async () => {
      for (let job = queue.shift(); job; job = queue.shift()) results.push(await job());
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    expect(results).toHaveLength(100);
    expect(breaker.getMetrics().totalCalls).toBe(100);
  });
});

describe('Testing: the guide’s unit tests', () => {
  it('test_closed_state_allows_calls', () => {
    const breaker = new CircuitBreaker();
    expect(breaker.call(() => 'ok')).toBe('ok');
  });

  it('test_trips_after_threshold', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3 });
    const failing = (): never => {
      throw new ValueError('Test error');
    };
    for (let i = 0; i < 3; i++) expect(() => breaker.call(failing)).toThrow(ValueError);
    expect(breaker.getState()).toBe(CircuitBreakerState.OPEN);
    expect(() => breaker.call(failing)).toThrow(CircuitBreakerError);
  });

  it('test_half_open_recovery', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 2, recoveryTimeout: 100, clock: clock.now });
    failTimes(breaker, 2);
    expect(breaker.getState()).toBe(CircuitBreakerState.OPEN);
    clock.advance(200);
    expect(breaker.getState()).toBe(CircuitBreakerState.HALF_OPEN);
    breaker.call(() => 'ok');
    expect(breaker.getState()).toBe(CircuitBreakerState.CLOSED);
  });

  it('test_metrics_tracking', () => {
    const breaker = new CircuitBreaker();
    for (let i = 0; i < 5; i++) breaker.call(() => 'ok');
    const metrics = breaker.getMetrics();
    expect(metrics.successes).toBe(5);
    expect(metrics.failures).toBe(0);
    expect(metrics.failureRate).toBe(0.0);
  });
});

describe('Troubleshooting', () => {
  it('circuit never closes: a manual reset closes it', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1 });
    failTimes(breaker, 1);
    expect(breaker.getState()).toBe('open');
    breaker.reset();
    expect(breaker.getState()).toBe('closed');
    expect(breaker.call(() => 'Service is healthy, circuit should recover')).toContain('healthy');
  });

  it('too many rejections: a higher threshold or a longer timeout is more lenient', () => {
    const strict = new CircuitBreaker({ failureThreshold: 5 });
    const lenient = new CircuitBreaker({ failureThreshold: 10 });
    failTimes(strict, 7);
    failTimes(lenient, 7);
    expect([strict.getState(), lenient.getState()]).toEqual(['open', 'closed']);
    expect(() => new CircuitBreaker({ recoveryTimeout: 120_000 })).not.toThrow();
  });

  it('slow recovery: a 30 s timeout tries again sooner than 60 s', () => {
    const clock = manualClock();
    const slow = new CircuitBreaker({ recoveryTimeout: 60_000, failureThreshold: 1, clock: clock.now });
    const faster = new CircuitBreaker({ recoveryTimeout: 30_000, failureThreshold: 1, clock: clock.now });
    failTimes(slow, 1);
    failTimes(faster, 1);
    clock.advance(30_000);
    expect([slow.getState(), faster.getState()]).toEqual(['open', 'half_open']);
  });
});
