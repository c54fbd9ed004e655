// Runs tap with the package.json settings, passes its output through, and adds the plain closing line
// CI reads ("N passed, M failed"), keeping tap's exit code.
import { spawn } from 'node:child_process';

const child = spawn('npx', ['tap', ...process.argv.slice(2)], { stdio: ['ignore', 'pipe', 'inherit'] });
let tail = '';
child.stdout.on('data', (b) => {
  process.stdout.write(b);
  tail = (tail + b.toString()).slice(-20000);
});
child.on('exit', (code) => {
  // tap prints "# { total: N, pass: N, fail: N, ... }" at the end; fall back to counting ok lines.
  const m = /#\s*\{\s*total:\s*(\d+),\s*pass:\s*(\d+)(?:,\s*fail:\s*(\d+))?/.exec(tail);
  const passed = m ? Number(m[2]) : 0;
  let failed = m ? Number(m[3] ?? 0) : code === 0 ? 0 : 1;
  if (code !== 0 && failed === 0) {
    // Every test passed but tap failed the run: the coverage thresholds of package.json were not met.
    process.stdout.write('\ntap exited non-zero with every test passing: coverage is below the thresholds in package.json\n');
    failed = 1;
  }
  process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
  process.exit(code ?? 1);
});
