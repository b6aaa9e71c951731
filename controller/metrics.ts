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
  /** command round-trip latencies in ms, bucketed */
  readonly commandLatencyBuckets = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000];
  readonly commandLatencyCounts = new Array<number>(this.commandLatencyBuckets.length + 1).fill(0);
  commandLatencySum = 0;
  commandLatencyCount = 0;

  rejectFrame(reason: string): void {
    this.framesRejected.set(reason, (this.framesRejected.get(reason) ?? 0) + 1);
  }

  refuseConnection(reason: string): void {
    this.connectionsRefused.set(reason, (this.connectionsRefused.get(reason) ?? 0) + 1);
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

  totalFramesRejected(): number {
    let n = 0;
    for (const v of this.framesRejected.values()) n += v;
    return n;
  }
}
