import { connect } from 'node:net';

/**
 * Whether anything holds `address`: one TCP connection to `port`, given up after `timeoutMs`. An
 * accepted connection and a refusal (RST) both mean a host answered for the address; a timeout or
 * "no route" (the neighbour's ARP/ND went unanswered) mean none did. A firewall that drops the SYN
 * silently reads as nobody: the caller also reads the kernel's neighbour table, which the attempt
 * filled when a host on the link answered ARP.
 */
export function tcpAnswers(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: timeoutMs });
    const done = (answered: boolean): void => {
      socket.destroy();
      resolve(answered);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED'));
  });
}
