import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { PROTOCOL_VERSION } from '../../proto/version.js';
import { issueServerCert, signAgentCsr, type CaKeyPair } from '../../controller/pki.js';

/**
 * A stand-in for one replica of a controller (issue 16): the fleet's CA is shared by every replica,
 * each has its own serving certificate and port. It serves what an agent needs to enroll and stay
 * connected: GET /v1/ca, POST /v1/enroll (signs the CSR for a fixed host id), and the agent
 * WebSocket with mutual TLS (the certificate must come from the shared CA), answering a hello with a
 * welcome and sending heartbeats. `kill()` drops every socket and stops listening, as a dead process
 * would; `start()` listens again on the same port.
 */
export interface ReplicaStandIn {
  name: string;
  port: number;
  url: string;
  /** welcomed agent sessions on this replica, in order, with the time of their hello */
  sessions: Array<{ at: number; hostId: string; ws: WebSocket }>;
  /** enrollment requests this replica answered */
  enrollments: number;
  /** the current welcomed session, if any */
  live(): WebSocket | undefined;
  kill(): Promise<void>;
  start(): Promise<void>;
}

export async function startReplicaStandIn(options: {
  name: string;
  ca: CaKeyPair;
  hostId: string;
  hostName: string;
  port?: number;
}): Promise<ReplicaStandIn> {
  const serving = await issueServerCert(options.ca, { sans: ['127.0.0.1'] });
  const sockets = new Set<Socket>();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1024 * 1024 });
  let server: Server | undefined;

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method === 'GET' && req.url === '/v1/ca') return json(res, 200, { caPem: options.ca.certPem });
    if (req.method === 'POST' && req.url === '/v1/enroll') {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        replica.enrollments++;
        const { csrPem } = JSON.parse(body) as { csrPem: string };
        signAgentCsr(options.ca, csrPem, { hostId: options.hostId }).then(
          (cert) =>
            json(res, 200, {
              hostId: options.hostId,
              hostName: options.hostName,
              certPem: cert.certPem,
              caPem: options.ca.certPem,
            }),
          (err: Error) =>
            json(res, 400, { error: { code: 'csr_invalid', message: err.message, retryable: false } }),
        );
      });
      return;
    }
    json(res, 404, { error: { code: 'not_found', message: `no route ${req.url}`, retryable: false } });
  };
  const upgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    if (!(req.socket as TLSSocket).authorized || req.url !== '/v1/agent') {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      let welcomed = false;
      ws.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString()) as { type?: string };
        if (frame.type !== 'hello' || welcomed) return;
        welcomed = true;
        replica.sessions.push({ at: Date.now(), hostId: options.hostId, ws });
        ws.send(
          JSON.stringify({
            type: 'welcome',
            protocolVersion: PROTOCOL_VERSION,
            controllerVersion: `standin-${options.name}`,
            hostId: options.hostId,
            hostName: options.hostName,
            heartbeatIntervalMs: 1000,
            controllerTime: Date.now(),
          }),
        );
      });
      let seq = 0;
      const heartbeat = setInterval(() => {
        if (welcomed) ws.send(JSON.stringify({ type: 'heartbeat', seq: seq++, sentAt: Date.now() }));
      }, 500);
      ws.on('error', () => undefined);
      ws.on('close', () => clearInterval(heartbeat));
    });
  };

  const replica: ReplicaStandIn = {
    name: options.name,
    port: options.port ?? 0,
    url: '',
    sessions: [],
    enrollments: 0,
    live() {
      const last = replica.sessions.at(-1)?.ws;
      return server && last?.readyState === last?.OPEN ? last : undefined;
    },
    async start() {
      const s = createServer(
        {
          cert: serving.certPem,
          key: serving.keyPem,
          ca: [options.ca.certPem],
          requestCert: true,
          rejectUnauthorized: false,
          minVersion: 'TLSv1.2',
        },
        handle,
      );
      s.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      s.on('upgrade', upgrade);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(replica.port, '127.0.0.1', () => resolve());
      });
      const addr = s.address();
      replica.port = typeof addr === 'object' && addr ? addr.port : 0;
      replica.url = `https://127.0.0.1:${replica.port}`;
      server = s;
    },
    async kill() {
      const s = server;
      server = undefined;
      if (!s) return;
      // a dead process: no close frames, every socket reset, the port refuses from now on
      for (const c of wss.clients) c.terminate();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
  await replica.start();
  return replica;
}
