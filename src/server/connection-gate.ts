/**
 * Admission of connections: at most `maxConnections` served at once on a listener, each
 * with its share of the memory budget reserved. A connection past either is still read,
 * so that its first request gets a clear 503 `unavailable` (retry shortly) instead of a
 * reset, then closed within a second; Node's own `maxConnections`, set above the cap,
 * drops a flood that arrives faster than that.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { UnavailableError } from '../errors.ts';
import type { MemoryBudget } from '../memory-budget.ts';
import type { ConnectorMetrics } from '../metrics/connector-metrics.ts';

/** What one open connection holds: socket buffers, the HTTP parser, Node's request state (measured about 11 KiB idle). */
export const CONNECTION_BYTES = 16 * 1024;
/** How long a refused connection stays open for its 503 to be read. */
const REFUSED_LINGER_MS = 1_000;
/** Refused connections lingering at once, beyond the cap, before Node drops new ones unanswered. */
const REFUSED_HEADROOM = 64;

export interface GateOptions {
  /** `socket` or `ops`: the metrics label. */
  readonly listener: string;
  readonly maxConnections: number;
  /** The variable that sets the cap, for the refusal's message. */
  readonly capVariable: string;
  readonly budget: MemoryBudget;
  readonly metrics: ConnectorMetrics;
}

type RefusalReason = 'cap' | 'budget';

export class ConnectionGate {
  readonly #options: GateOptions;
  readonly #refused = new WeakMap<Socket, RefusalReason>();
  #open = 0;

  constructor(options: GateOptions) {
    this.#options = options;
    options.metrics.connectionGates.set(options.listener, this);
  }

  /** Connections admitted and still open. */
  get openConnections(): number {
    return this.#open;
  }

  /** Admits or refuses every connection `server` accepts; runs before Node's own handling. */
  attach(server: Server): void {
    server.maxConnections = this.#options.maxConnections + REFUSED_HEADROOM;
    server.prependListener('connection', (socket: Socket) => { this.#admit(socket); });
  }

  /** Why requests on `socket` are refused, when they are. */
  refusal(socket: Socket): UnavailableError | undefined {
    const reason = this.#refused.get(socket);
    if (reason === undefined) return undefined;
    return new UnavailableError(reason === 'cap'
      ? `the connector serves at most ${this.#options.maxConnections} connections at once (${this.#options.capVariable}); retry shortly`
      : 'the connector is at its memory budget (CONNECTOR_MEMORY_BUDGET) and takes no new connection now; retry shortly');
  }

  #admit(socket: Socket): void {
    const { listener, maxConnections, budget, metrics } = this.#options;
    const reason = this.#open >= maxConnections ? 'cap' : budget.tryReserve(CONNECTION_BYTES, 'connection') ? undefined : 'budget';
    if (reason !== undefined) {
      metrics.connectionsRefused.inc({ listener, reason });
      this.#refused.set(socket, reason);
      const timer = setTimeout(() => { socket.destroy(); }, REFUSED_LINGER_MS);
      socket.once('close', () => { clearTimeout(timer); });
      return;
    }
    this.#open += 1;
    socket.once('close', () => {
      this.#open -= 1;
      budget.release(CONNECTION_BYTES, 'connection');
    });
  }
}
