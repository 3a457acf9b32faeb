#!/usr/bin/env node
// The `mlx-guard` command. Today it ships the circuit breaker library; the sidecar that
// `start` will run (supervisor, worker pool, HTTP server) is being built issue by issue.

const usage = `mlx-guard: a resilience sidecar for mlx_lm.server

Usage:
  mlx-guard start [options]   launch mlx_lm.server and serve its API through mlx-guard (not built yet)
  mlx-guard --help            this text

The circuit breaker is usable as a library today:
  import { CircuitBreaker } from 'mlx-guard';
`;

function main(argv: readonly string[]): number {
  const [command] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(usage);
    return 0;
  }
  if (command === 'start') {
    process.stderr.write(
      'mlx-guard start: not yet. The sidecar (supervisor, worker pool and HTTP server) is not built yet;\n' +
        'this release ships the circuit breaker library only (see README.md, "Library usage").\n',
    );
    return 1;
  }
  process.stderr.write(`mlx-guard: unknown command "${command}". Run "mlx-guard --help" for the commands.\n`);
  return 2;
}

process.exitCode = main(process.argv.slice(2));
