/**
 * The apply journal lives behind the Store (store.applies; SQL in controller/store/). These names
 * stay for the orchestrator, which sees the journal as its ApplyStore.
 */
export type {
  ApplyJournal as ApplyStore,
  ApplyRecord,
  ApplyStatus,
  StepRecord,
  StepStatus,
} from '../store/store.js';
