/**
 * Admission of connections: at most `maxConnections` served at once on a listener. Each
 * is counted in the memory budget (so that bodies wait while many are open) but never
 * refused by it: the cap bounds what connections hold, and a connection refused for
 * memory would also refuse the probe that asks whether the connector is alive. A
 * connection past the cap is still read, so that its first request gets a clear 503
 * `unavailable` (retry shortly) instead of a reset, then closed within a second; Node's
 * own `maxConnections`, set above the cap, drops a flood that arrives faster than that.
 *
 * On a listener that `makesRoomFromIdle` (the ops port, where kubelet's probes arrive
 * among whatever else reaches the pod network), a new connection at the cap closes an
 * idle one instead of being refused: idle connections cannot crowd out a probe. The
 * oldest connection that never sent a request goes first; a keep-alive connection that
 * served requests (a Prometheus scraper's) only when there is no such one, since its
 * client may be about to reuse it.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { UnavailableError } from '../errors.ts';
import type { MemoryBudget } from '../memory-budget.ts';
import { CONNECTION_COST } from '../memory-costs.ts';
import type { ConnectorMetrics } from '../metrics/connector-metrics.ts';

/** How long a refused connection stays open for its 503 to be read. */
const REFUSED_LINGER_MS = 1_000;
/** Refused connections lingering at once, beyond the cap, before Node drops new ones unanswered. */
const REFUSED_HEADROOM = 64;

export interface GateOptions {
  /** `socket` or `ops`: the metrics label. */
  readonly listener: string;
  readonly maxConnections: number;
  /** The listener as the refusal names it: "the socket", "the ops port". */
  readonly listenerName: string;
  readonly budget: MemoryBudget;
  readonly metrics: ConnectorMetrics;
  /** At the cap, close the oldest idle connection to admit a new one. */
  readonly makesRoomFromIdle?: boolean;
}

export class ConnectionGate {
  readonly #options: GateOptions;
  readonly #refused = new WeakSet<Socket>();
  /** Admitted connections, oldest first, with their requests in flight. */
  readonly #inFlight = new Map<Socket, number>();
  /** Connections that have sent a request (tracked only where idle ones are closed). */
  readonly #served = new WeakSet<Socket>();
  /** Closed to make room, not yet gone. */
  #leaving = 0;

  constructor(options: GateOptions) {
    this.#options = options;
    options.metrics.connectionGates.set(options.listener, this);
  }

  /** Connections admitted and still open. */
  get openConnections(): number {
    return this.#inFlight.size - this.#leaving;
  }

  /** Admits or refuses every connection `server` accepts; runs before Node's own handling. */
  attach(server: Server): void {
    server.maxConnections = this.#options.maxConnections + REFUSED_HEADROOM;
    server.prependListener('connection', (socket: Socket) => { this.#admit(socket); });
    // Requests in flight matter only to a listener that closes idle connections: the others pay nothing per request.
    if (this.#options.makesRoomFromIdle !== true) return;
    const track = (req: IncomingMessage, res: ServerResponse): void => {
      const socket = req.socket;
      const count = this.#inFlight.get(socket);
      if (count === undefined) return;
      this.#inFlight.set(socket, count + 1);
      this.#served.add(socket);
      res.once('close', () => {
        const now = this.#inFlight.get(socket);
        if (now !== undefined) this.#inFlight.set(socket, now - 1);
      });
    };
    server.prependListener('request', track);
    server.prependListener('checkContinue', track);
  }

  /** Why requests on `socket` are refused, when they are. */
  refusal(socket: Socket): UnavailableError | undefined {
    if (!this.#refused.has(socket)) return undefined;
    return new UnavailableError(`the connector serves at most ${this.#options.maxConnections} connections at once on ${this.#options.listenerName}; retry shortly`);
  }

  #admit(socket: Socket): void {
    const { listener, maxConnections, budget, metrics } = this.#options;
    if (this.openConnections >= maxConnections && !this.#closeIdle()) {
      metrics.connectionsRefused.inc({ listener, reason: 'cap' });
      this.#refused.add(socket);
      const timer = setTimeout(() => { socket.destroy(); }, REFUSED_LINGER_MS);
      socket.once('close', () => { clearTimeout(timer); });
      return;
    }
    budget.reserve(CONNECTION_COST, 'connection');
    this.#inFlight.set(socket, 0);
    socket.once('close', () => {
      this.#inFlight.delete(socket);
      budget.release(CONNECTION_COST, 'connection');
    });
  }

  /** Closes an idle connection (one that never sent a request first), when the listener may; answers whether it did. */
  #closeIdle(): boolean {
    if (this.#options.makesRoomFromIdle !== true) return false;
    // Only this listener tracks its requests: on it, a count of 0 means idle.
    const idle = [...this.#inFlight].filter(([socket, requests]) => requests === 0 && !socket.destroyed).map(([socket]) => socket);
    const socket = idle.find((candidate) => !this.#served.has(candidate)) ?? idle[0];
    if (socket !== undefined) {
      this.#leaving += 1;
      socket.once('close', () => { this.#leaving -= 1; });
      socket.destroy();
      this.#options.metrics.connectionsRefused.inc({ listener: this.#options.listener, reason: 'idle_closed' });
      return true;
    }
    return false;
  }
}
