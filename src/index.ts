/** The library: everything returns data; nothing prints or exits. */
export { run, type RunSpec } from './core/run';
export { attach, type AttachSpec } from './core/attach';
export { diagnose, type Diagnosis, type Check } from './core/doctor';
export { summaryLine } from './model/summary';
export { SLA_REASONS, isCompliant, type SlaReason } from './model/sla';
export { UsageError, NoSuchProcessError } from './model/errors';
export { validateJobId, generateJobId } from './model/job-id';
export type { Result, ExitStatus, ExitSource, Mode } from './model/result';
export { selectObserver } from './observer/select';
export type { ExitObserver, Watch, ObservedExit } from './observer/types';
export { SystemError } from './native/errors';
