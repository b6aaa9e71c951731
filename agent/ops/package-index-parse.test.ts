import { describe, expect, it } from 'vitest';
import { debVersions, primaryHref, rpmVersions } from './package-index-parse.js';

describe('debVersions', () => {
  const packages = [
    'Package: kubeadm',
    'Architecture: amd64',
    'Version: 1.31.2-1.1',
    'Depends: cri-tools (>= 1.30.0)',
    '',
    'Package: kubeadm',
    'Version: 1.31.3-1.1',
    '',
    'Package: kubelet',
    'Version: 1.31.2-1.1',
    'Description: node agent',
    ' Version: 9.9.9 in a continuation line is not a field',
    '',
    'Package: kubectl-convert',
    'Version: 1.31.2-1.1',
    '',
  ].join('\n');

  it('lists every version of the names asked for, and only those names', () => {
    expect(debVersions(packages, ['kubeadm', 'kubelet', 'kubectl'])).toEqual({
      kubeadm: ['1.31.2-1.1', '1.31.3-1.1'],
      kubelet: ['1.31.2-1.1'],
      kubectl: [],
    });
  });

  it('reads CRLF indexes', () => {
    expect(debVersions(packages.replace(/\n/g, '\r\n'), ['kubeadm']).kubeadm).toEqual([
      '1.31.2-1.1',
      '1.31.3-1.1',
    ]);
  });
});

describe('rpm metadata', () => {
  it('finds the primary metadata in repomd.xml', () => {
    const repomd = [
      '<repomd xmlns="http://linux.duke.edu/metadata/repo">',
      '<data type="filelists"><location href="repodata/aa-filelists.xml.gz"/></data>',
      '<data type="primary">',
      '  <checksum type="sha256">ab</checksum>',
      '  <location href="repodata/bb-primary.xml.gz"/>',
      '</data>',
      '</repomd>',
    ].join('\n');
    expect(primaryHref(repomd)).toBe('repodata/bb-primary.xml.gz');
    expect(primaryHref('<repomd></repomd>')).toBeUndefined();
  });

  it('lists ver-rel per name, with a non-zero epoch kept', () => {
    const primary = [
      '<metadata packages="3">',
      '<package type="rpm"><name>kubeadm</name><arch>x86_64</arch>',
      '<version epoch="0" ver="1.31.3" rel="150500.1.1"/></package>',
      '<package type="rpm"><name>kubeadm</name><arch>aarch64</arch>',
      '<version epoch="0" ver="1.31.3" rel="150500.1.1"/></package>',
      '<package type="rpm"><name>kubelet</name>',
      '<version epoch="2" ver="1.31.2" rel="1"/></package>',
      '<package type="rpm"><name>other</name><version epoch="0" ver="1" rel="1"/></package>',
      '</metadata>',
    ].join('\n');
    expect(rpmVersions(primary, ['kubeadm', 'kubelet', 'kubectl'])).toEqual({
      kubeadm: ['1.31.3-150500.1.1'],
      kubelet: ['2:1.31.2-1'],
      kubectl: [],
    });
  });
});
