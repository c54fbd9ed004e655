import type { BenchCase } from '../types.js';

export const cases: BenchCase[] = [
  { name: 'GET /health/live', method: 'GET', path: '/health/live', target: { reference: 'bare' } },
];
