import { describe, expect, it } from 'vitest';
import {
  countCpuinfoProcessors,
  countCpuList,
  goArch,
  parseMemTotalBytes,
  parseOsRelease,
} from './system.js';

describe('parseOsRelease', () => {
  it.each([
    [
      'Debian with quoted values',
      'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
      { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
    ],
    [
      'single quotes and escapes',
      'ID=\'rocky\'\nVERSION_ID=9.4\nPRETTY_NAME="Rocky \\"Blue\\" Onyx"\n',
      { id: 'rocky', versionId: '9.4', prettyName: 'Rocky "Blue" Onyx' },
    ],
    [
      'NAME when PRETTY_NAME is missing',
      'NAME=Alpine\nID=alpine\n',
      { id: 'alpine', versionId: '', prettyName: 'Alpine' },
    ],
    ['an empty file', '', { id: '', versionId: '', prettyName: '' }],
  ])('reads %s', (_name, text, expected) => {
    expect(parseOsRelease(text)).toEqual(expected);
  });
});

describe('CPU and memory parsers', () => {
  it.each([
    ['0', 1],
    ['0-1\n', 2],
    ['0-3,6,8-9', 7],
    ['', 0],
    ['garbage', 0],
  ])('counts cpu list %j as %d CPUs', (list, count) => {
    expect(countCpuList(list)).toBe(count);
  });

  it('counts processor entries in /proc/cpuinfo', () => {
    expect(countCpuinfoProcessors('processor\t: 0\nmodel name\t: x\n\nprocessor\t: 1\n')).toBe(2);
  });

  it.each([
    ['MemTotal:       24684096 kB\nMemFree: 1 kB\n', 24684096 * 1024],
    ['MemFree: 1 kB\n', 0],
  ])('reads MemTotal from %j', (text, bytes) => {
    expect(parseMemTotalBytes(text)).toBe(bytes);
  });

  it.each([
    ['x64', 'amd64'],
    ['arm64', 'arm64'],
    ['s390x', 's390x'],
  ])('names node arch %s as %s', (nodeArch, name) => {
    expect(goArch(nodeArch)).toBe(name);
  });
});
