#!/usr/bin/env node
// Sums vitest JSON reports into the one line CI reads: "N passed, N failed".
// A report that is missing or unreadable counts as a failure, so a run that crashed before
// writing its report can never look green.
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
for (const path of process.argv.slice(2)) {
  try {
    const report = JSON.parse(readFileSync(path, 'utf8'));
    passed += report.numPassedTests;
    failed += report.numFailedTests;
    if (report.numTotalTests === 0) {
      console.error(`test-summary: ${path} ran no test`);
      failed += 1;
    }
  } catch (error) {
    console.error(`test-summary: cannot read ${path}: ${error.message}`);
    failed += 1;
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
