import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PUBLIC_ERRORS } from '../../../src/answer/index.js';
import { publicUpstreamError } from '../../../src/server/errors.js';

describe('the public error table', () => {
  it('is the table in the README, row for row', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const rows = [...readme.matchAll(/^\| `([a-z_]+)` \| ([^|]+) \| `([a-z_]+)` \| (yes|no) \| (.+) \|$/gm)].map(([, code, status, type, retry, when]) => [code, status, type, retry === 'yes', when]);
    expect(rows).toEqual(Object.entries(PUBLIC_ERRORS).map(([code, e]) => [code, String(e.status), e.type, e.retryable, e.when]));
  });

  it('maps every internal upstream failure to a public code and a message without its detail', () => {
    expect(publicUpstreamError({ code: 'ERR_UPSTREAM_STATUS', status: 404 })).toMatchObject({ code: 'upstream_rejected', status: 404 });
    // A 4xx is about the request: the model server's reason is quoted, whether mlx_lm's string or llama-server's object.
    const tooLong = '{"error":{"code":400,"message":"request (1202 tokens) exceeds the available context size (256 tokens), try increasing it","type":"exceed_context_size_error"}}';
    expect(publicUpstreamError({ code: 'ERR_UPSTREAM_STATUS', status: 400, message: `the model server answered 400: ${tooLong}` }).message).toBe(
      'the model server refused the request (HTTP 400): request (1202 tokens) exceeds the available context size (256 tokens), try increasing it',
    );
    expect(publicUpstreamError({ code: 'ERR_UPSTREAM_STATUS', status: 404, message: 'the model server answered 404: {"error": "404 Client Error. Repository Not Found for model \'x\'."}' }).message).toMatch(/\(HTTP 404\): 404 Client Error\. Repository Not Found/);
    expect(publicUpstreamError({ code: 'ERR_UPSTREAM_STATUS', status: 400, message: 'the model server answered 400: <html>' }).message).toBe("the model server refused the request (HTTP 400); its answer is in mlx-guard's log");
    expect(publicUpstreamError({ code: 'ERR_UPSTREAM_STATUS', status: 500, message: 'the model server answered 500: {"error": "Traceback /Users/me/x.py"}' }).message).not.toMatch(/Traceback/);
    expect(publicUpstreamError({ code: 'ERR_UPSTREAM_STATUS', status: 500 })).toMatchObject({ code: 'upstream_error', status: 502 });
    for (const code of ['ERR_DEADLINE', 'ERR_UPSTREAM_HEADERS_TIMEOUT', 'ERR_UPSTREAM_STALL'] as const) expect(publicUpstreamError({ code })).toMatchObject({ code: 'upstream_timeout', status: 504 });
    for (const code of ['ERR_UPSTREAM_CONNECTION', 'ERR_UPSTREAM_INCOMPLETE', 'ERR_UPSTREAM_PROTOCOL', 'ERR_WORKER', 'ERR_INTERNAL'] as const) {
      const mapped = publicUpstreamError({ code });
      expect(mapped.code).toBe('upstream_error');
      expect(mapped.message).not.toMatch(/ERR_|UND_/);
    }
  });
});
