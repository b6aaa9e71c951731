import { describeStoreConformance } from './conformance.js';
import { SqliteStore } from './sqlite-store.js';
import { sqliteAsAsyncStore } from './sqlite-async-store.js';

describeStoreConformance('SQLite as AsyncStore', () => sqliteAsAsyncStore(new SqliteStore(':memory:')));
