import { z } from 'zod';
import { EtcdConnection } from './etcd-ops.js';
import { HttpsUrl } from './validators.js';

/**
 * etcd membership changes the engine makes (issue 15: growing managed etcd). Idempotent by
 * themselves: the agent reads the member list first, so a command re-sent after a controller crash
 * finds the member it added and adds nothing.
 */
export const EtcdMemberOps = {
  /** `etcdctl member add NAME --peer-urls=URL` unless a member with that peer URL is listed already */
  'etcd.memberAdd': {
    args: EtcdConnection.extend({
      name: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
        .max(253),
      peerUrl: HttpsUrl,
    }),
    result: z.strictObject({
      /** false: a member with this peer URL was there already (started or not) */
      added: z.boolean(),
      /** the cluster's members' peer URLs after the add */
      peerUrls: z.array(z.string().max(1024)).max(64),
    }),
  },
} as const;
