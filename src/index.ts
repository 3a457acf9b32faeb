// The public library surface of mlx-guard.
export * from './breaker/index.js';
