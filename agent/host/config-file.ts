import { readFile } from 'node:fs/promises';

/** Reads the agent's own config file (outside the managed host root). */
export function readConfigFile(path: string): Promise<string> {
  return readFile(path, 'utf8');
}
