/** Flags whose value is a secret (kubeadm's). */
const SECRET_FLAGS = 'token|discovery-token|tls-bootstrap-token|certificate-key';
const SECRET_FLAG = new RegExp(`^--(?:${SECRET_FLAGS})$`);

/**
 * Removes secrets from program output and argument lists before they reach a log or an error
 * message (S19): bootstrap tokens, certificate keys and PEM private key blocks.
 */
export function scrubSecrets(text: string): string {
  return text
    .replace(
      /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
      '[redacted private key]',
    )
    .replace(new RegExp(`(--(?:${SECRET_FLAGS})[= ])\\S+`, 'g'), '$1[redacted]')
    .replace(/\b[a-z0-9]{6}\.[a-z0-9]{16}\b/g, '[redacted token]')
    .replace(/\b[0-9a-f]{64}\b/g, (m, offset: number, s: string) =>
      s.slice(Math.max(0, offset - 7), offset) === 'sha256:' ? m : '[redacted key]',
    );
}

/** An argument list with secrets removed, including the value that follows a secret flag. */
export function scrubArgs(args: readonly string[]): string[] {
  return args.map((a, i) => (i > 0 && SECRET_FLAG.test(args[i - 1] ?? '') ? '[redacted]' : scrubSecrets(a)));
}
