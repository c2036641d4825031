/**
 * Figures from the fault suite: printed as test diagnostics, and appended as JSON lines to
 * FAULT_FIGURES_FILE when it is set (`npm run test:faults` sets it and renders
 * docs/reliability.md from the file).
 */
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';

export function recordFigures(check: string, figures: Readonly<Record<string, unknown>>): void {
  console.log(`# ${check}: ${JSON.stringify(figures)}`);
  const file = process.env.FAULT_FIGURES_FILE;
  if (file !== undefined && file !== '') appendFileSync(file, `${JSON.stringify({ check, ...figures })}\n`);
}

/** Open file descriptors of a process (sockets included). */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Current resident set size of a process, MiB. */
export function rssMiB(pid: number): number {
  const kib = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
  return Math.round((kib / 1024) * 10) / 10;
}
