import { describe, expect, it } from 'vitest';
import type { FleetHostRow } from '../fleet-api.js';
import { COLUMNS, filterRows, sortRows, visibleWindow, type ColumnKey } from './table-model.js';

const row = (name: string, over: Partial<FleetHostRow> = {}): FleetHostRow => ({
  id: name,
  name,
  roles: ['worker'],
  status: 'online',
  lastSeenAt: 0,
  ip: '10.0.0.1',
  os: 'Debian GNU/Linux 12 (bookworm)',
  kernel: '6.1.0-27-amd64',
  agentVersion: '0.1.0',
  kubeVersion: null,
  kubePackages: null,
  services: null,
  health: null,
  preflight: null,
  apply: null,
  ...over,
});

const names = (rows: readonly FleetHostRow[]): string[] => rows.map((r) => r.name);

describe('host table model', () => {
  it('sorts names naturally: node-2 before node-10', () => {
    const rows = ['node-10', 'node-2', 'node-1'].map((n) => row(n));
    expect(names(sortRows(rows, { key: 'name', dir: 'asc' }))).toEqual(['node-1', 'node-2', 'node-10']);
    expect(names(sortRows(rows, { key: 'name', dir: 'desc' }))).toEqual(['node-10', 'node-2', 'node-1']);
  });

  it.each<[ColumnKey, FleetHostRow[], string[]]>([
    ['ip', [row('a', { ip: '10.0.0.10' }), row('b', { ip: '10.0.0.9' })], ['b', 'a']],
    ['status', [row('a'), row('b', { status: 'offline' }), row('c', { status: 'revoked' })], ['b', 'a', 'c']],
    [
      'lastSeen',
      [row('a', { lastSeenAt: 5 }), row('b', { lastSeenAt: 9 }), row('c', { lastSeenAt: null })],
      ['b', 'a', 'c'],
    ],
    [
      'health',
      [
        row('a', {
          health: {
            worst: 'ok',
            warnings: 0,
            criticals: 0,
            findings: [],
            at: 0,
            error: null,
            drift: [],
            certs: [],
          },
        }),
        row('b', {
          health: {
            worst: 'critical',
            warnings: 1,
            criticals: 2,
            findings: ['Swap'],
            at: 0,
            error: null,
            drift: [],
            certs: [],
          },
        }),
        row('c'),
        row('d', { services: { 'containerd.service': 'failed' } }),
        row('e', {
          health: {
            worst: 'warning',
            warnings: 3,
            criticals: 0,
            findings: ['Drift-sysctl'],
            at: 0,
            error: null,
            drift: [],
            certs: [],
          },
        }),
      ],
      ['c', 'a', 'e', 'd', 'b'],
    ],
    [
      'kernel',
      [row('a', { kernel: '6.10.0' }), row('b', { kernel: '6.2.0' }), row('c', { kernel: null })],
      ['c', 'b', 'a'],
    ],
  ])('sorts by %s ascending', (key, rows, order) => {
    expect(names(sortRows(rows, { key, dir: 'asc' }))).toEqual(order);
  });

  it('breaks ties by name, so equal values keep a steady order', () => {
    const rows = ['c', 'a', 'b'].map((n) => row(n));
    expect(names(sortRows(rows, { key: 'kernel', dir: 'desc' }))).toEqual(['a', 'b', 'c']);
  });

  it.each([
    ['', 'all', ['cp-1', 'w-1', 'w-2']],
    ['control', 'all', ['cp-1']],
    ['WORKER 10.0.0.2', 'all', ['w-2']],
    ['', 'offline', ['w-1']],
    ['cp', 'offline', []],
  ] as const)('filters %j with state %s', (query, status, expected) => {
    const rows = [
      row('cp-1', { roles: ['control-plane'] }),
      row('w-1', { status: 'offline' }),
      row('w-2', { ip: '10.0.0.2' }),
    ];
    expect(names(filterRows(rows, query, status, 0))).toEqual(expected);
  });

  it.each([
    [0, 280, 1000, { first: 0, last: 18 }],
    [2800, 280, 1000, { first: 92, last: 118 }],
    [28_000, 280, 1000, { first: 992, last: 1000 }],
    [0, 280, 3, { first: 0, last: 3 }],
    [0, 280, 0, { first: 0, last: 0 }],
  ])('draws rows around scrollTop %i of a %ipx viewport over %i rows', (top, height, count, expected) => {
    expect(visibleWindow(top, height, 28, count)).toEqual(expected);
  });

  it('has one column per field the issue asks for', () => {
    expect(COLUMNS.map((c) => c.title)).toEqual([
      'Name',
      'Roles',
      'Status',
      'Last seen',
      'IP',
      'OS',
      'Kernel',
      'Agent',
      'Kube',
      // issue 13: health instead of install preflight, which moved into the host's details
      'Health',
      // issue 13: what drifted from what kctl put in place, and the soonest certificate expiry
      'Drift',
      'Certs expire',
      'Apply',
      'Details',
    ]);
  });
});
