import { describeStoreConformance } from './conformance.js';
import { SqliteStore } from './sqlite-store.js';

describeStoreConformance('SQLite', () => new SqliteStore(':memory:'));
