// The public library surface of mlx-guard.
export * from './breaker/index.js';
export * from './tools/index.js';
