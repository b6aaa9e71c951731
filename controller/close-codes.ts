/**
 * WebSocket close codes the controller uses on the agent channel. 1008 is the standard "policy
 * violation" (S8); the 4xxx codes are kctl's own, so an agent and an operator can tell the reasons apart.
 */
export const CloseCode = {
  policy: 1008,
  shutdown: 1001,
  protocolMismatch: 4000,
  /** the host was revoked or deleted */
  revoked: 4003,
  helloTimeout: 4008,
  /** a second live connection with the same certificate (S7) */
  duplicate: 4009,
  heartbeatTimeout: 4010,
  /** the host's certificate was rotated or replaced: a session on an older one ends at once */
  superseded: 4011,
  /** the connection or the host went over a rate limit (frames, bytes, hellos) */
  rateLimited: 4029,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
