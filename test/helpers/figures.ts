/**
 * Figures from the fault suite: printed as test diagnostics, and appended as JSON lines to
 * FAULT_FIGURES_FILE when it is set (`npm run test:faults` sets it and renders
 * docs/reliability.md from the file).
 */
import { appendFileSync } from 'node:fs';

export function recordFigures(check: string, figures: Readonly<Record<string, unknown>>): void {
  console.log(`# ${check}: ${JSON.stringify(figures)}`);
  const file = process.env.FAULT_FIGURES_FILE;
  if (file !== undefined && file !== '') appendFileSync(file, `${JSON.stringify({ check, ...figures })}\n`);
}
