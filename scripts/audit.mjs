// S22: fail on high or critical advisories in production dependencies. The registry mirror on
// these machines refuses the audit endpoint (405); that is reported, not treated as a pass or a failure.
import { execFileSync } from 'node:child_process';

let out;
try {
  out = execFileSync('npm', ['audit', '--omit=dev', '--json'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
} catch (err) {
  out = err.stdout ?? '';
}
let report;
try {
  report = JSON.parse(out);
} catch {
  console.log('npm audit: no JSON answer; audit not available here');
  process.exit(0);
}
if (!report.metadata) {
  console.log(`npm audit: endpoint unavailable (${report.message ?? 'unknown error'}); skipped`);
  process.exit(0);
}
const v = report.metadata.vulnerabilities ?? {};
const serious = (v.high ?? 0) + (v.critical ?? 0);
console.log(`npm audit: ${JSON.stringify(v)}`);
if (serious > 0) {
  console.error(`npm audit: ${serious} high/critical advisories in production dependencies`);
  process.exit(1);
}
