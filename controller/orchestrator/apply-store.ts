import type { AsyncStore } from '../store/store.js';

/**
 * The apply journal lives behind the Store (store.applies; SQL in controller/store/). These names
 * stay for the orchestrator, which sees the journal as its ApplyStore: every transition awaited
 * (committed) before the next task.
 */
export type ApplyStore = AsyncStore['applies'];

export type { ApplyRecord, ApplyStatus, StepRecord, StepStatus } from '../store/store.js';
