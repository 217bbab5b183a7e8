/**
 * The library's one public door (`require('ffrtmp')`). Everything returns data; nothing prints,
 * exits or signals a workload. What a program embedding ffrtmp needs is here; deep imports into
 * dist/ are not part of the API.
 */

// Running and adopting workloads: one frozen Result per job.
export { run, type RunSpec } from './core/run';
export { attach, type AttachSpec } from './core/attach';
export type { GovernanceOptions } from './core/governance';
export { diagnose, type Diagnosis } from './core/doctor';

// Limits: flags (or job constraints) → one validated, canonical Limits object.
export { parseLimits, hasLimits, limitWarnings, formatCpuMax, formatIoLine, type Limits, type LimitFlags, type CpuMax, type IoMax } from './cgroup/limits';

// The journal: the durable record, its readers and questions, adoption after a crash.
export { Journal, JournalRecorder, type JournalOptions } from './journal/journal';
export { readJournal, type JournalReadResult, type JournalProblem } from './journal/reader';
export { resolveStateDir, type ResolvedStateDir } from './journal/state-dir';
export { findResult, findResults, recentResults, findUnfinished, classifyUnfinished } from './journal/query';
export type { JobRecorder, JournalRecord, StartedRecord, StartedJournalRecord, ResultJournalRecord, ProcessIdentity, KeeperIdentity } from './journal/types';
export { recover, scanOrphans, type RecoverOptions, type RecoverReport, type AdoptionOutcome } from './recover/recover';

// Queue jobs (docs/agent.md): the wrapper path for your own worker, the job model, producing.
export { executeWithWrapper, type ExecuteOptions } from './agent/execute';
export { parseJobData, JobDataError, type JobData, type WrapperConstraints, type AgentJob } from './agent/job';
export { executeLegacy, type LegacyOutcome } from './agent/legacy';
export { submitJob, waitForJob, type SubmitOptions, type WaitOutcome } from './agent/submit';
export { RESULT_LOG_PREFIX, outcomeFromLogs, type JobOutcome } from './agent/outcome';

// The vocabulary.
export type { Result, ExitStatus, ExitSource, Mode, SpawnError, KeeperReport } from './model/result';
export type { Usage, CgroupReport, CgroupProblem, CgroupReason, LimitReportEntry } from './model/cgroup-report';
export type { Check, CheckSeverity } from './model/check';
export { summaryLine } from './model/summary';
export { SLA_REASONS, isCompliant, type SlaReason } from './model/sla';
export { UsageError, NoSuchProcessError } from './model/errors';
export { validateJobId, generateJobId } from './model/job-id';

// Exit observers (for callers that bring their own scheduling).
export { selectObserver, type SelectOptions } from './observer/select';
export type { ExitObserver, Watch, ObservedExit } from './observer/types';
export { SystemError } from './native/errors';
