const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `call_` plus 24 random alphanumerics (Web Crypto: works in workers and browsers). */
export function newCallId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  let id = 'call_';
  for (const byte of bytes) id += alphabet[byte % alphabet.length];
  return id;
}
