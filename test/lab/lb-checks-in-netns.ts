/**
 * Runs the agent's load balancer preflight checks (agent/checks/load-balancer.ts) on this machine
 * through the real LocalHost, and prints the results as JSON. test/lab/lb-hosts.lab.test.ts starts
 * it with `ip netns exec <lb host>`, so /proc/net, /sys/class/net, `ip` and the VIP probe all see
 * that host's network namespace. Argument: the PreflightSpec as JSON.
 */
import { PreflightSpec } from '../../proto/checks.js';
import { LocalHost } from '../../agent/host/local-host.js';
import { runPreflight } from '../../agent/checks/index.js';

const spec = PreflightSpec.parse(JSON.parse(process.argv[2] ?? '{}'));
const results = await runPreflight(new LocalHost(), spec);
process.stdout.write(`${JSON.stringify(results)}\n`);
