/** Writing successful answers: JSON bodies and empty 204s. */
import type { ServerResponse } from 'node:http';

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

export function sendNoContent(res: ServerResponse, headers: Readonly<Record<string, string | number>> = {}): void {
  res.statusCode = 204;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end();
}

/** The ETag of a generation, as the protocol gives it: the decimal in quotes. */
export function etagOf(generation: string): string {
  return `"${generation}"`;
}
