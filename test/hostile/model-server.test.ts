// What a client can ask of the model server through mlx-guard, and what another local process or
// a web page can do with the model server's own port.
import { describe, expect, it } from 'vitest';
import { chatBody, startGuard } from '../support/hostile.js';
import { post, rawRequest } from '../support/raw-http.js';

describe('the model server answers only mlx-guard, and only what mlx-guard allows', () => {
  it('its own port refuses a request without the launch\'s key (401) and sends no CORS headers, whatever the Origin', async () => {
    const guard = await startGuard();
    const { modelServer } = JSON.parse((await rawRequest(guard.port, 'GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).body) as { modelServer: { baseUrl: string } };
    const port = Number(new URL(modelServer.baseUrl).port);
    for (const request of [
      post('/v1/chat/completions', chatBody('hi'), 'Origin: http://evil.example\r\n'),
      post('/v1/chat/completions', chatBody('hi'), 'Authorization: Bearer guessed\r\n'),
      'OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n\r\n',
      'GET /v1/models HTTP/1.1\r\nHost: evil.example\r\n\r\n',
    ]) {
      const answer = await rawRequest(port, request);
      expect(answer.status).toBe(401);
      expect(Object.keys(answer.headers).filter((name) => name.startsWith('access-control'))).toEqual([]);
    }
    // Through mlx-guard, the same request is served.
    expect((await rawRequest(guard.port, post('/v1/chat/completions', chatBody('hi')))).status).toBe(200);
  }, 60_000);

  it('max_tokens 1e15 (or 1e20) and its synonyms are lowered to the configured maximum, and the answer says so; nothing is refused', async () => {
    const guard = await startGuard();
    for (const field of ['max_tokens', 'max_completion_tokens']) {
      const answer = await rawRequest(guard.port, post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], [field]: 1e15 })), 30_000);
      expect(answer.status, field).toBe(200);
      expect(answer.headers['x-mlx-guard-max-tokens'], field).toBe('32768; requested=1000000000000000');
    }
    const huge = await rawRequest(guard.port, post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 1e20, stream: true })), 30_000);
    expect(huge.status).toBe(200);
    expect(huge.headers['x-mlx-guard-max-tokens']).toBe('32768; requested=100000000000000000000');
    const messages = await rawRequest(guard.port, post('/v1/messages', JSON.stringify({ model: 'm', max_tokens: 1e15, messages: [{ role: 'user', content: 'hi' }] })), 30_000);
    expect(messages.status).toBe(200);
    expect(messages.headers['x-mlx-guard-max-tokens']).toBe('32768; requested=1000000000000000');
    // Within the maximum, nothing is said.
    const ordinary = await rawRequest(guard.port, post('/v1/chat/completions', chatBody('hi')), 30_000);
    expect(ordinary.headers['x-mlx-guard-max-tokens']).toBeUndefined();
  }, 60_000);
});
