// tsc copies no .lua files: copy every src/**/lua/*.lua next to its compiled module in dist/.
import { cpSync, existsSync } from 'node:fs';

if (existsSync('src')) {
  cpSync('src', 'dist/src', { recursive: true, filter: (p) => !p.endsWith('.ts') });
}
