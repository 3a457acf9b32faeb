#!/usr/bin/env node
// Sums vitest JSON reports into the one line CI reads: "N passed, N failed".
// A report that is missing or unreadable counts as a failure, so a run that crashed before
// writing its report can never look green. Each failed test is named with the first lines of its
// error just above that line, because CI keeps only the tail of the output.
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
const failures = [];
for (const path of process.argv.slice(2)) {
  try {
    const report = JSON.parse(readFileSync(path, 'utf8'));
    passed += report.numPassedTests;
    failed += report.numFailedTests;
    for (const file of report.testResults ?? []) {
      for (const test of file.assertionResults ?? []) {
        if (test.status !== 'failed') continue;
        const why = (test.failureMessages ?? []).join('\n').split('\n').slice(0, 6).join('\n    ');
        failures.push(`FAILED ${file.name}\n  ${test.fullName}\n    ${why}`);
      }
    }
    if (report.numTotalTests === 0) {
      console.error(`test-summary: ${path} ran no test`);
      failed += 1;
    }
  } catch (error) {
    console.error(`test-summary: cannot read ${path}: ${error.message}`);
    failed += 1;
  }
}
for (const failure of failures) console.log(failure);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
