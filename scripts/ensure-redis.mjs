// Runs before `npm start` and `npm test`: makes sure a redis-server binary is there when Baton will need
// one (no REDIS_URL). Installs Debian's package when it can (root + apt-get); otherwise says how, in one line.
import { spawnSync } from 'node:child_process';

const has = (cmd, args = ['--version']) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

if (process.env.REDIS_URL || has('redis-server')) process.exit(0);

const root = typeof process.getuid === 'function' && process.getuid() === 0;
if (has('apt-get', ['--version'])) {
  const sudo = root ? [] : has('sudo', ['-n', 'true']) ? ['sudo', '-n'] : undefined;
  if (sudo) {
    process.stdout.write('redis-server is missing: installing Debian\'s redis-server package…\n');
    const run = (args) => spawnSync(sudo[0] ?? args[0], sudo.length ? [...sudo.slice(1), ...args] : args.slice(1), { stdio: 'inherit' }).status === 0;
    if (run(['apt-get', 'update', '-qq']) && run(['apt-get', 'install', '-y', '-qq', 'redis-server'])) process.exit(0);
  }
}
process.stderr.write('baton: redis-server is not installed: apt-get install redis-server, brew install redis, or set REDIS_URL (docker compose up)\n');
process.exit(1);
