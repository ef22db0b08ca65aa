import net from 'node:net';

/**
 * A TCP proxy in front of a real server (Postgres, Redis) that a test can cut and reopen: cut
 * closes the listening port (new connections are refused, as with a server that is down) and
 * destroys every open connection (as a server that died would). The server behind it and
 * everyone else using it are untouched, so a shared Postgres can "go down" for one test's roles.
 */
export class TcpProxy {
  readonly port: number;
  private readonly upstream: { host: string; port: number };
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  /** Connections accepted since the start: a sign the clients came back after a cut. */
  accepted = 0;

  private constructor(port: number, upstream: { host: string; port: number }) {
    this.port = port;
    this.upstream = upstream;
  }

  /** Starts a proxy on a free local port in front of host:port. */
  static async start(upstream: { host: string; port: number }): Promise<TcpProxy> {
    const probe = net.createServer();
    const port = await new Promise<number>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(0, '127.0.0.1', () => resolve((probe.address() as net.AddressInfo).port));
    });
    await new Promise((resolve) => probe.close(resolve));
    const proxy = new TcpProxy(port, upstream);
    await proxy.open();
    return proxy;
  }

  get isOpen(): boolean {
    return this.server !== null;
  }

  /** Listens again on the same port. */
  async open(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => this.relay(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** The outage: no new connection is accepted, and every open one is dropped. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise((resolve) => server.close(resolve));
  }

  async close(): Promise<void> {
    await this.cut();
  }

  private relay(client: net.Socket): void {
    this.accepted++;
    const upstream = net.connect(this.upstream.port, this.upstream.host);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
