import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PUBLIC_ERRORS, publicUpstreamError } from '../../../src/server/errors.js';

describe('the public error table', () => {
  it('is the table in the README, row for row', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const rows = [...readme.matchAll(/^\| `([a-z_]+)` \| ([^|]+) \| `([a-z_]+)` \| (yes|no) \| (.+) \|$/gm)].map(([, code, status, type, retry, when]) => [code, status, type, retry === 'yes', when]);
    expect(rows).toEqual(Object.entries(PUBLIC_ERRORS).map(([code, e]) => [code, String(e.status), e.type, e.retryable, e.when]));
  });

  it('maps every internal upstream failure to a public code and a message without its detail', () => {
    expect(publicUpstreamError({ code: 'ERR_UPSTREAM_STATUS', status: 404 })).toMatchObject({ code: 'upstream_rejected', status: 404 });
    expect(publicUpstreamError({ code: 'ERR_UPSTREAM_STATUS', status: 500 })).toMatchObject({ code: 'upstream_error', status: 502 });
    for (const code of ['ERR_DEADLINE', 'ERR_UPSTREAM_HEADERS_TIMEOUT', 'ERR_UPSTREAM_STALL']) expect(publicUpstreamError({ code })).toMatchObject({ code: 'upstream_timeout', status: 504 });
    for (const code of ['ERR_UPSTREAM_CONNECTION', 'ERR_UPSTREAM_INCOMPLETE', 'ERR_UPSTREAM_PROTOCOL', 'ERR_WORKER', 'ERR_INTERNAL']) {
      const mapped = publicUpstreamError({ code });
      expect(mapped.code).toBe('upstream_error');
      expect(mapped.message).not.toMatch(/ERR_|UND_/);
    }
  });
});
