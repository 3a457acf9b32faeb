// `npm run chaos -- [--minutes N] [--seed S] [--log FILE]`: one campaign, its progress and its report.
// Exit 1 on any violation, with the command that replays its seed.
import { parseArgs } from 'node:util';
import { formatReport, runCampaign } from './campaign.js';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '3' }, seed: { type: 'string' }, quiet: { type: 'boolean', default: false }, log: { type: 'string' } } });
const minutes = Number(values.minutes);
const seed = values.seed === undefined ? Date.now() % 1_000_000 : Number(values.seed);
if (!(minutes > 0) || !Number.isInteger(seed) || seed < 0) {
  console.error('usage: npm run chaos -- [--minutes N (> 0)] [--seed S (a whole number)] [--quiet] [--log FILE (mlx-guard\'s log lines)]');
  process.exit(2);
}
const report = await runCampaign({ seed, durationMs: minutes * 60_000, progress: values.quiet ? undefined : (line) => console.log(line), logFile: values.log });
console.log(formatReport(report));
process.exit(report.violations.length === 0 ? 0 : 1);
