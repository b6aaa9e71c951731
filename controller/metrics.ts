/**
 * Counters and histograms the controller keeps in memory; /metrics (Prometheus text) reads them.
 * Plain numbers: no library needed for a handful of series.
 */
export class ControllerMetrics {
  readonly framesRejected = new Map<string, number>();
  heartbeatsReceived = 0;
  connectionsAccepted = 0;
  connectionsRefused = new Map<string, number>();
  enrollments = new Map<string, number>();
  commandsSent = 0;
  /** live agent sessions ended because their certificate lost its standing (superseded, revoked) */
  readonly sessionsEnded = new Map<string, number>();
  /**
   * connections refused because too many handshakes were in flight (controller/admission.ts), by
   * stage: `tls` (reset before any TLS work) or `upgrade` (503 before the WebSocket)
   */
  readonly handshakesRefused = new Map<string, number>([
    ['tls', 0],
    ['upgrade', 0],
  ]);
  /** agent connections closed or refused by a rate limit, by limit (frames, bytes, hellos, reconnects) */
  readonly rateLimited = new Map<string, number>();
  /** command round-trip latencies in ms, bucketed */
  readonly commandLatencyBuckets = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000];
  readonly commandLatencyCounts = new Array<number>(this.commandLatencyBuckets.length + 1).fill(0);
  commandLatencySum = 0;
  commandLatencyCount = 0;
  /** finished applies by result; both series exist from the start so a dashboard sees 0, not nothing */
  readonly appliesByResult = new Map<string, number>([
    ['succeeded', 0],
    ['failed', 0],
  ]);

  rejectFrame(reason: string): void {
    this.framesRejected.set(reason, (this.framesRejected.get(reason) ?? 0) + 1);
  }

  refuseConnection(reason: string): void {
    this.connectionsRefused.set(reason, (this.connectionsRefused.get(reason) ?? 0) + 1);
  }

  endSession(reason: string): void {
    this.sessionsEnded.set(reason, (this.sessionsEnded.get(reason) ?? 0) + 1);
  }

  refuseHandshake(stage: 'tls' | 'upgrade'): void {
    this.handshakesRefused.set(stage, (this.handshakesRefused.get(stage) ?? 0) + 1);
  }

  limitHit(limit: string): void {
    this.rateLimited.set(limit, (this.rateLimited.get(limit) ?? 0) + 1);
  }

  countEnrollment(result: string): void {
    this.enrollments.set(result, (this.enrollments.get(result) ?? 0) + 1);
  }

  observeCommandLatency(ms: number): void {
    const i = this.commandLatencyBuckets.findIndex((b) => ms <= b);
    const idx = i === -1 ? this.commandLatencyBuckets.length : i;
    this.commandLatencyCounts[idx] = (this.commandLatencyCounts[idx] ?? 0) + 1;
    this.commandLatencySum += ms;
    this.commandLatencyCount++;
  }

  countApply(result: 'succeeded' | 'failed'): void {
    this.appliesByResult.set(result, (this.appliesByResult.get(result) ?? 0) + 1);
  }

  totalFramesRejected(): number {
    let n = 0;
    for (const v of this.framesRejected.values()) n += v;
    return n;
  }
}

/** Prometheus text exposition (version 0.0.4) of the controller's metrics. */
export function renderPrometheus(
  m: ControllerMetrics,
  gauges: { hostsByState: Record<string, number>; agentsOnline: number },
): string {
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  const label = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

  metric('kctl_hosts', 'gauge', 'Enrolled hosts by state.');
  for (const [state, n] of Object.entries(gauges.hostsByState))
    lines.push(`kctl_hosts{state="${label(state)}"} ${n}`);
  metric('kctl_agents_online', 'gauge', 'Agents with a live connection.');
  lines.push(`kctl_agents_online ${gauges.agentsOnline}`);
  metric('kctl_heartbeats_received_total', 'counter', 'Heartbeat frames received from agents.');
  lines.push(`kctl_heartbeats_received_total ${m.heartbeatsReceived}`);
  metric('kctl_frames_rejected_total', 'counter', 'Agent frames rejected, by reason.');
  for (const [reason, n] of m.framesRejected)
    lines.push(`kctl_frames_rejected_total{reason="${label(reason)}"} ${n}`);
  metric('kctl_connections_refused_total', 'counter', 'Agent connections refused, by reason.');
  for (const [reason, n] of m.connectionsRefused)
    lines.push(`kctl_connections_refused_total{reason="${label(reason)}"} ${n}`);
  metric(
    'kctl_handshakes_refused_total',
    'counter',
    'Connections refused because too many TLS handshakes or upgrades were in flight, by stage.',
  );
  for (const [stage, n] of m.handshakesRefused)
    lines.push(`kctl_handshakes_refused_total{stage="${label(stage)}"} ${n}`);
  metric(
    'kctl_agent_sessions_ended_total',
    'counter',
    'Live agent sessions closed because their certificate was superseded or the host revoked.',
  );
  for (const [reason, n] of m.sessionsEnded)
    lines.push(`kctl_agent_sessions_ended_total{reason="${label(reason)}"} ${n}`);
  metric(
    'kctl_agent_rate_limited_total',
    'counter',
    'Agent connections closed or refused by a rate limit, by limit.',
  );
  for (const [limit, n] of m.rateLimited)
    lines.push(`kctl_agent_rate_limited_total{limit="${label(limit)}"} ${n}`);
  metric('kctl_enrollments_total', 'counter', 'Enrollment attempts, by result.');
  for (const [result, n] of m.enrollments)
    lines.push(`kctl_enrollments_total{result="${label(result)}"} ${n}`);
  metric('kctl_commands_sent_total', 'counter', 'Commands sent to agents.');
  lines.push(`kctl_commands_sent_total ${m.commandsSent}`);
  metric(
    'kctl_command_duration_seconds',
    'histogram',
    'Command round-trip time, controller to agent and back.',
  );
  let cumulative = 0;
  m.commandLatencyBuckets.forEach((b, i) => {
    cumulative += m.commandLatencyCounts[i] ?? 0;
    lines.push(`kctl_command_duration_seconds_bucket{le="${b / 1000}"} ${cumulative}`);
  });
  cumulative += m.commandLatencyCounts[m.commandLatencyBuckets.length] ?? 0;
  lines.push(`kctl_command_duration_seconds_bucket{le="+Inf"} ${cumulative}`);
  lines.push(`kctl_command_duration_seconds_sum ${m.commandLatencySum / 1000}`);
  lines.push(`kctl_command_duration_seconds_count ${m.commandLatencyCount}`);
  metric('kctl_applies_total', 'counter', 'Cluster applies finished, by result.');
  for (const [result, n] of m.appliesByResult)
    lines.push(`kctl_applies_total{result="${label(result)}"} ${n}`);
  return lines.join('\n') + '\n';
}
