import { arch, networkInterfaces } from 'node:os';

/**
 * What the agent reads about its own process rather than about the managed host: the one place
 * outside agent/main.ts where agent code reads node:os or process.env (eslint.config.js).
 */
export const thisProcess = {
  /** node's process architecture ("x64", "arm64") */
  arch: (): string => arch(),
  /** the live interfaces of the agent's network namespace, without spawning anything (DESIGN.md) */
  networkInterfaces: (): ReturnType<typeof networkInterfaces> => networkInterfaces(),
  /** the agent's environment: preflight judges *_proxy by it, as kubeadm judges its own */
  env: (): Readonly<Record<string, string | undefined>> => process.env,
};
