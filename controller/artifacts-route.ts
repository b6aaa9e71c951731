import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KctlError } from '../proto/errors.js';
import type { Route } from './http-router.js';

const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * GET /artifacts/<name>: the agent binary and its checksum, for cloud-init on hosts that have no
 * identity yet. Public, read-only, one flat directory; integrity comes from the sha256 pinned in
 * the user-data and the CA pinned by curl, not from who may download.
 */
export function artifactsRoute(dir: string): Route {
  return {
    method: 'GET',
    path: '/artifacts/:name',
    auth: 'public',
    async handle(ctx) {
      const name = ctx.params.name ?? '';
      if (!ARTIFACT_NAME.test(name) || name.includes('..'))
        throw new KctlError('not_found', `No artifact named "${name}"`);
      const path = join(dir, name);
      const s = await stat(path).catch(() => undefined);
      if (!s?.isFile()) throw new KctlError('not_found', `No artifact named "${name}"`);
      ctx.res.writeHead(200, {
        'content-type':
          name.endsWith('.sha256') || name === 'SHA256SUMS'
            ? 'text/plain; charset=utf-8'
            : 'application/octet-stream',
        'content-length': s.size,
        'cache-control': 'no-store',
      });
      await new Promise<void>((resolve, reject) => {
        const stream = createReadStream(path);
        stream.on('error', reject);
        stream.on('end', resolve);
        stream.pipe(ctx.res);
      });
      return undefined;
    },
  };
}
