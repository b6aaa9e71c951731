import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseClusterSpec } from '../spec/parse.js';
import { renderPrepareFiles } from '../render/prepare-files.js';
import { prepareFilesInputFor } from '../render/cluster-spec-inputs.js';
import type { PlannedHost } from './resolved-cluster.js';
import { clusterRenderers } from './renderers.js';

const parsed = parseClusterSpec(readFileSync('test/fixtures/cluster/full.yaml', 'utf8'));
if (!parsed.ok) throw new Error('fixture does not parse');
const spec = parsed.spec;
const host = (name: string, osId: string): PlannedHost =>
  ({
    name,
    role: 'worker',
    first: false,
    address: undefined,
    kernelRelease: '6.1.0',
    osId,
  }) as unknown as PlannedHost;

describe('cluster renderers', () => {
  it('render the prepare files once per package format, each host getting its own list with the same files', () => {
    const renderers = clusterRenderers(spec, 'https://198.18.0.1:9443');
    const a = renderers.prepareFiles(host('w-1', 'debian'));
    const b = renderers.prepareFiles(host('w-2', 'ubuntu'));
    const rpm = renderers.prepareFiles(host('w-3', 'rocky'));
    expect(b).toEqual(a);
    expect(b).not.toBe(a);
    expect(a).toEqual(
      renderPrepareFiles(
        prepareFilesInputFor(spec, { packageFormat: 'deb', controllerUrl: 'https://198.18.0.1:9443' }),
      ),
    );
    expect(rpm).toEqual(
      renderPrepareFiles(
        prepareFilesInputFor(spec, { packageFormat: 'rpm', controllerUrl: 'https://198.18.0.1:9443' }),
      ),
    );
    expect(rpm).not.toEqual(a);
  });
});
