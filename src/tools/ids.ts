const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A new call id: nine random alphanumerics (Web Crypto: works in workers and browsers). Mistral's
 * chat templates refuse any other shape when the conversation comes back on the next turn
 * (mlx-lm#1375: mlx_lm.server's uuid ids fail there), and every other template and client treats
 * the id as opaque. 62⁹ ids: a repeat within a conversation is not a practical concern.
 */
export function newCallId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  let id = '';
  // 256 is not a multiple of 62: a slight bias towards the first letters, harmless for an id.
  for (const byte of bytes) id += ALPHABET[byte % ALPHABET.length];
  return id;
}

/** What a kept id may look like: what models and servers emit, nothing that needs escaping anywhere. */
const USABLE_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
/** What mlx_lm.server makes up when the model gave no id (and Mistral's templates refuse). */
const MADE_UP_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The id a call goes out with. The model's own id is kept (Kimi's `functions.f:0`, Command R7B's
 * "0", Mistral's nine characters): its template renders the tool results against it on the next
 * turn. A new one replaces an id that is missing, not a plain token, a made-up uuid, or already
 * used in this answer (`used`, which this adds to).
 */
export function callIdFor(given: unknown, used?: Set<string>): string {
  let id = typeof given === 'string' && USABLE_ID.test(given) && !MADE_UP_UUID.test(given) ? given : newCallId();
  while (used?.has(id)) id = newCallId();
  used?.add(id);
  return id;
}
