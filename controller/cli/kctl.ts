#!/usr/bin/env node
import { runKctl } from './program.js';

runKctl(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`kctl: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
