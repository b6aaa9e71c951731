import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { caPinOf } from '../../proto/ca-pin.js';
import { PROTOCOL_VERSION } from '../../proto/version.js';
import { createCa, issueServerCert, signAgentCsr, type CaKeyPair } from '../../controller/pki.js';

export interface Received {
  /** which connection (1, 2, ...) it came on */
  conn: number;
  frame: Record<string, unknown>;
}

/**
 * A stand-in controller for fuzzing a real agent: a TLS server whose CA the agent pins, enrollment
 * (GET /v1/ca, POST /v1/enroll signing the agent's CSR for a fixed host id), and the agent
 * WebSocket with mutual TLS, answering each hello with a welcome. Everything the agent sends is kept.
 */
export interface FakeController {
  url: string;
  caPin: string;
  caPem: string;
  hostId: string;
  /** a host certificate for this CSR, as enrollment would issue it */
  signCsr(csrPem: string): Promise<string>;
  received: Received[];
  /** the current agent connection after its welcome, waiting for a (re)connect when there is none */
  session(timeoutMs?: number): Promise<{ ws: WebSocket; conn: number }>;
  /** close code of a connection once it closed */
  closeCode(conn: number): number | undefined;
  close(): Promise<void>;
}

export async function startFakeController(options: {
  hostId: string;
  hostName: string;
}): Promise<FakeController> {
  const ca: CaKeyPair = await createCa({ commonName: 'fuzz controller' });
  const serving = await issueServerCert(ca, { sans: ['127.0.0.1'] });
  const received: Received[] = [];
  const closeCodes = new Map<number, number>();
  let current: { ws: WebSocket; conn: number; welcomed: boolean } | undefined;
  let connCount = 0;

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer(
    {
      cert: serving.certPem,
      key: serving.keyPem,
      ca: [ca.certPem],
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    (req: IncomingMessage, res: ServerResponse) => {
      if (req.method === 'GET' && req.url === '/v1/ca') return json(res, 200, { caPem: ca.certPem });
      if (req.method === 'POST' && req.url === '/v1/enroll') {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => {
          const { csrPem } = JSON.parse(body) as { csrPem: string };
          signAgentCsr(ca, csrPem, { hostId: options.hostId }).then(
            (cert) =>
              json(res, 200, {
                hostId: options.hostId,
                hostName: options.hostName,
                certPem: cert.certPem,
                caPem: ca.certPem,
              }),
            (err: Error) =>
              json(res, 400, { error: { code: 'csr_invalid', message: err.message, retryable: false } }),
          );
        });
        return;
      }
      json(res, 404, { error: { code: 'not_found', message: 'no', retryable: false } });
    },
  );
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 4 * 1024 * 1024 });
  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    const tls = req.socket as import('node:tls').TLSSocket;
    if (!tls.authorized || req.url !== '/v1/agent') {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = ++connCount;
      const entry = { ws, conn, welcomed: false };
      current = entry;
      ws.on('message', (data: Buffer) => {
        let frame: Record<string, unknown>;
        try {
          frame = JSON.parse(data.toString()) as Record<string, unknown>;
        } catch {
          frame = { unparsable: data.toString('base64') };
        }
        received.push({ conn, frame });
        if (frame.type === 'hello') {
          ws.send(
            JSON.stringify({
              type: 'welcome',
              protocolVersion: PROTOCOL_VERSION,
              controllerVersion: 'fuzz',
              hostId: options.hostId,
              hostName: options.hostName,
              heartbeatIntervalMs: 1000,
            }),
          );
          entry.welcomed = true;
        }
      });
      // the agent drops a controller that stays silent for three heartbeat intervals
      let seq = 0;
      const heartbeat = setInterval(() => {
        if (entry.welcomed) ws.send(JSON.stringify({ type: 'heartbeat', seq: seq++, sentAt: Date.now() }));
      }, 500);
      ws.on('error', () => undefined);
      ws.on('close', (code: number) => {
        clearInterval(heartbeat);
        closeCodes.set(conn, code);
        if (current === entry) current = undefined;
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;

  return {
    url: `https://127.0.0.1:${port}`,
    caPin: caPinOf(ca.certPem),
    caPem: ca.certPem,
    hostId: options.hostId,
    signCsr: async (csrPem) => (await signAgentCsr(ca, csrPem, { hostId: options.hostId })).certPem,
    received,
    async session(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (current?.welcomed && current.ws.readyState === current.ws.OPEN) return current;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error('the agent did not (re)connect');
    },
    closeCode: (conn) => closeCodes.get(conn),
    async close() {
      for (const c of wss.clients) c.terminate();
      current?.ws.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
