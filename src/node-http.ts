/**
 * `node:http` loaded with require(), never with an ES import. An ES import of a built-in
 * builds its whole namespace, and node:http's holds lazy getters (WebSocket,
 * MessageEvent, CloseEvent) whose first read loads Node's bundled undici and
 * worker_threads: resident memory the connector never uses (bench/notes.md compares a
 * process loading http, https, net and crypto both ways).
 * require() reads only the exports named here. Type-only imports of node:http cost
 * nothing and stay as they are. The client library uses it too: a handler process that
 * only talks to its connector should not carry undici either.
 */
import type * as Http from 'node:http';
import { createRequire } from 'node:module';

const http = createRequire(import.meta.url)('node:http') as typeof Http;

export const { createServer, request } = http;
export const Agent = http.Agent;
export type Agent = Http.Agent;
