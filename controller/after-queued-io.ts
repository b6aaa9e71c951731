/**
 * Runs `fn` after the event loop has read the I/O that is already waiting. Node runs due timers
 * before it polls sockets, so after a pause (SIGSTOP/SIGCONT, a long GC, a blocked loop) a timeout
 * would fire before a result or heartbeat that arrived in time and sits unread in the socket.
 * A timer that judges silence therefore decides only after one poll phase: setImmediate runs
 * after the poll phase of the current loop iteration, and the second one covers frames that ws
 * or TLS hand over in a later tick.
 */
export function afterQueuedIo(fn: () => void): void {
  setImmediate(() => setImmediate(fn));
}
