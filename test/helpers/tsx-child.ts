// Children that run Baton's TypeScript through tsx (`node --import tsx …`) must not record coverage. tap records
// V8 coverage in every node child it sees, and tsx compiles src/*.ts to different code than tap's own loader
// does; c8 then merges two incompatible coverages of one file and silently drops the file from the report. In
// CI that removed every src/ file that a tsx child had loaded and failed the coverage thresholds.
export const TSX_ARGS = ['--import', 'tsx'] as const;

export function tsxChildEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, _TAPJS_PROCESSINFO_COVERAGE_: '0' };
}
