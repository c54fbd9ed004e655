// README, .env.example and the code agree: every environment variable is documented in the README's
// configuration table, and the README gives the test command CI runs.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { EnvSchema } from '../src/config.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

t.test('every environment variable is in the README configuration table, with its meaning', async (t) => {
  for (const name of Object.keys(EnvSchema.shape)) {
    const row = new RegExp(`^\\| \`${name}\` \\| \`[^\`]*\` \\|(.*)\\|$`, 'm').exec(readme);
    t.ok(row, `${name} has a row`);
    t.ok(row && row[1]!.trim().length > 0, `${name} says what it means`);
  }
});

t.test('the README gives the two commands', async (t) => {
  t.match(readme, /npm install && npm start/);
  t.match(readme, /npm install && npm test/);
});
