/** The library: everything returns data; nothing prints or exits. */
export { run, type RunSpec } from './core/run';
export { attach, type AttachSpec } from './core/attach';
export { diagnose, type Diagnosis, type Check } from './core/doctor';
export { summaryLine } from './core/summary';
export { SLA_REASONS, isCompliant, type SlaReason } from './core/sla';
export { UsageError, NoSuchProcessError } from './core/errors';
export { validateJobId, generateJobId } from './core/job-id';
export type { Result, ExitStatus, ExitSource, Mode } from './core/result';
export { selectObserver } from './observer/select';
export type { ExitObserver, Watch, ObservedExit } from './observer/types';
export { SystemError } from './native/errors';
