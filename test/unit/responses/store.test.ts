import { describe, expect, it } from 'vitest';
import { ResponseStore, type StoredResponse } from '../../../src/responses/index.js';

const entry = (text: string): StoredResponse => ({ response: { id: text, output: [] }, conversation: [{ role: 'user', content: text }] });
const bytes = (text: string) => Buffer.byteLength(JSON.stringify(entry(text)));

describe('the response store', () => {
  it('keeps at most maxEntries, dropping the least recently used (a read counts as a use)', () => {
    const store = new ResponseStore({ maxEntries: 2, maxBytes: 1e6, ttlMs: 1e6 });
    store.put('a', entry('a'));
    store.put('b', entry('b'));
    expect(store.get('a')).toBeDefined();
    store.put('c', entry('c'));
    expect(store.get('b')).toBeUndefined();
    expect(store.get('a')).toBeDefined();
    expect(store.get('c')).toBeDefined();
    expect(store.size).toBe(2);
  });

  it('keeps at most maxBytes in all; one response bigger than that is not kept', () => {
    const store = new ResponseStore({ maxEntries: 10, maxBytes: bytes('a') * 2, ttlMs: 1e6 });
    store.put('a', entry('a'));
    store.put('b', entry('b'));
    store.put('c', entry('c'));
    expect([store.get('a'), store.get('b'), store.get('c')].map(Boolean)).toEqual([false, true, true]);
    store.put('huge', entry('x'.repeat(1000)));
    expect(store.get('huge')).toBeUndefined();
    expect(store.size).toBe(2);
  });

  it('forgets a response after its time to live; a deleted one is gone; 0 entries keeps none', () => {
    let now = 0;
    const store = new ResponseStore({ maxEntries: 5, maxBytes: 1e6, ttlMs: 1_000 }, () => now);
    store.put('a', entry('a'));
    now = 1_000;
    expect(store.get('a')).toBeDefined();
    now = 1_001;
    expect(store.get('a')).toBeUndefined();
    store.put('b', entry('b'));
    expect(store.delete('b')).toBe(true);
    expect(store.delete('b')).toBe(false);
    const off = new ResponseStore({ maxEntries: 0, maxBytes: 1e6, ttlMs: 1e6 });
    off.put('a', entry('a'));
    expect(off.enabled).toBe(false);
    expect(off.get('a')).toBeUndefined();
  });
});
