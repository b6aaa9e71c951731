import { renderYamlDocuments } from './yaml-documents.js';

export const CRICTL_CONFIG_PATH = '/etc/crictl.yaml';
const CONTAINERD_ENDPOINT = 'unix:///run/containerd/containerd.sock';

/** /etc/crictl.yaml: both endpoints set, so crictl neither guesses nor warns. */
export function renderCrictlConfig(): string {
  return renderYamlDocuments([
    {
      'runtime-endpoint': CONTAINERD_ENDPOINT,
      'image-endpoint': CONTAINERD_ENDPOINT,
      timeout: 10,
      debug: false,
    },
  ]);
}
