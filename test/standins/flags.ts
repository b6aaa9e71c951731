import { StandinExit } from './standin-env.js';

/**
 * A small spf13/pflag look-alike: `--name value`, `--name=value`, `-n value`, booleans without a
 * value, repeatable comma-separated lists, `--` ending the flags, and pflag's error messages.
 */
export type FlagKind = 'bool' | 'string' | 'stringSlice';

export interface FlagSpec {
  name: string;
  kind: FlagKind;
  short?: string;
}

export interface ParsedFlags {
  positionals: string[];
  /** flags given on the command line, in the order of their first appearance */
  changed: string[];
  bool(name: string): boolean;
  string(name: string): string | undefined;
  list(name: string): string[];
  has(name: string): boolean;
}

const BOOL_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const BOOL_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Flags every kubeadm command accepts (klog's verbosity and a few globals). */
export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'v', kind: 'string' },
  { name: 'rootfs', kind: 'string' },
  { name: 'add-dir-header', kind: 'bool' },
  { name: 'log-file', kind: 'string' },
  { name: 'skip-headers', kind: 'bool' },
];

export function parseFlags(
  args: readonly string[],
  specs: readonly FlagSpec[],
  command: string,
): ParsedFlags {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short ?? '', s]));
  const values = new Map<string, string | boolean | string[]>();
  const changed: string[] = [];
  const positionals: string[] = [];

  const fail = (message: string): never => {
    // kubectl prints "error: ..."; kubeadm adds its --v=5 hint
    throw new StandinExit(
      command.startsWith('kubectl')
        ? `error: ${message}`
        : `${message}\nTo see the stack trace of this error execute with --v=5 or higher`,
    );
  };
  const set = (spec: FlagSpec, raw: string | undefined, shown: string): void => {
    if (!changed.includes(spec.name)) changed.push(spec.name);
    if (spec.kind === 'bool') {
      const v = raw ?? 'true';
      if (BOOL_TRUE.has(v)) values.set(spec.name, true);
      else if (BOOL_FALSE.has(v)) values.set(spec.name, false);
      else
        fail(
          `invalid argument "${v}" for "${shown}" flag: strconv.ParseBool: parsing "${v}": invalid syntax`,
        );
      return;
    }
    if (raw === undefined) fail(`flag needs an argument: ${shown}`);
    if (spec.kind === 'string') values.set(spec.name, raw ?? '');
    else {
      const prev = values.get(spec.name);
      const items = (raw ?? '').split(',').filter((s) => s !== '');
      values.set(spec.name, [...(Array.isArray(prev) ? prev : []), ...items]);
    }
  };

  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      const spec = byName.get(name);
      if (!spec) fail(`unknown flag: --${name}\nSee '${command} --help' for usage.`);
      if (!spec) continue;
      if (eq >= 0) set(spec, arg.slice(eq + 1), `--${name}`);
      else if (spec.kind === 'bool') set(spec, undefined, `--${name}`);
      else {
        i++;
        set(spec, args[i], `--${name}`);
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      const letter = arg.slice(1, 2);
      const spec = byShort.get(letter);
      if (!spec) fail(`unknown shorthand flag: '${letter}' in ${arg}\nSee '${command} --help' for usage.`);
      if (!spec) continue;
      const rest = arg.slice(2);
      if (spec.kind === 'bool') set(spec, rest.startsWith('=') ? rest.slice(1) : undefined, `-${letter}`);
      else if (rest !== '') set(spec, rest.startsWith('=') ? rest.slice(1) : rest, `-${letter}`);
      else {
        i++;
        set(spec, args[i], `-${letter}`);
      }
      continue;
    }
    positionals.push(arg);
  }

  return {
    positionals,
    changed,
    bool: (name) => values.get(name) === true,
    string: (name) => {
      const v = values.get(name);
      return typeof v === 'string' ? v : undefined;
    },
    list: (name) => {
      const v = values.get(name);
      return Array.isArray(v) ? v : [];
    },
    has: (name) => values.has(name),
  };
}

/**
 * kubeadm's ValidateMixedArguments: with --config only a few flags may be given as well
 * (`can not mix '--config' with arguments [certificate-key]`).
 */
export function checkMixedWithConfig(flags: ParsedFlags): void {
  if (!flags.has('config')) return;
  // cmd/kubeadm/app/apis/kubeadm/validation isAllowedFlag, plus the flags newer releases added
  const allowed = new Set([
    'config',
    'ignore-preflight-errors',
    'dry-run',
    'kubeconfig',
    'node-name',
    'kubeconfig-dir',
    'upload-certs',
    'print-join-command',
    'rootfs',
    'v',
    'log-file',
    'yes',
    'print-manifest',
    'allow-missing-template-keys',
    'output',
    'show-managed-fields',
  ]);
  const bad = flags.changed.filter((n) => !allowed.has(n) && !n.startsWith('skip-'));
  if (bad.length > 0) {
    throw new StandinExit(
      `can not mix '--config' with arguments [${bad.join(' ')}]\nTo see the stack trace of this error execute with --v=5 or higher`,
    );
  }
}
