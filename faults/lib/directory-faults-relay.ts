/**
 * A TCP relay on loopback between the webhook and a fake, so the fault scenarios can break the path the way networks
 * break it, and mend it, without restarting anything:
 *
 * - `forwardTo(port)`: new connections go to that port (the Graph fake, or a server whose certificate is wrong). TLS
 *   runs end to end through the relay, so the webhook sees exactly the certificate of the server behind it.
 * - `refuse()`: the relay stops listening, so connections are refused (ECONNREFUSED), as from a Graph that is down.
 *
 * Every change cuts the connections already open: otherwise a pooled keep-alive connection to the healthy server would
 * hide the fault (or keep it alive after it ended).
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export class FaultRelay {
  private server: Server | undefined;
  private targetPort: number;
  private readonly sockets = new Set<Socket>();

  private constructor(
    readonly port: number,
    server: Server,
    targetPort: number,
  ) {
    this.server = server;
    this.targetPort = targetPort;
  }

  /** A relay on a free loopback port, forwarding to `targetPort`. */
  static async start(targetPort: number): Promise<FaultRelay> {
    let relay: FaultRelay | undefined;
    const server = createServer((socket) => relay?.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    relay = new FaultRelay((server.address() as AddressInfo).port, server, targetPort);
    return relay;
  }

  /** `https://127.0.0.1:PORT`: the endpoint to give the webhook. */
  get endpoint(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** New connections go to `targetPort`; open ones are cut. Listens again if it was refusing. */
  async forwardTo(targetPort: number): Promise<void> {
    this.targetPort = targetPort;
    this.cutAll();
    if (this.server) return;
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.server = server;
  }

  /** Stops listening (connections are refused) and cuts the open ones. */
  async refuse(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.cutAll();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async close(): Promise<void> {
    await this.refuse();
  }

  private accept(client: Socket): void {
    const upstream = connect(this.targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      // A reset on one side ends the other; nothing here may throw into the scenario.
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private cutAll(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
