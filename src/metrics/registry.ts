/**
 * A minimal Prometheus registry: labelled counters, gauges and histograms, rendered in
 * the text exposition format. Small on purpose: the connector needs a dozen series, not
 * a client library.
 */

type Labels = Readonly<Record<string, string>>;

interface Metric {
  render(lines: string[]): void;
}

const NEEDS_ESCAPE = /[\\\n"]/;

/** The series key in exposition form; built on every inc and observe, so without sorting or escaping when there is nothing to do. */
function labelKey(labels: Labels): string {
  const names = Object.keys(labels);
  if (names.length === 0) return '';
  if (names.length > 1) names.sort();
  let key = '{';
  for (const name of names) {
    const value = labels[name] ?? '';
    key += `${key.length > 1 ? ',' : ''}${name}="${NEEDS_ESCAPE.test(value) ? escapeLabel(value) : value}"`;
  }
  return `${key}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function header(lines: string[], name: string, help: string, type: string): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

/** A monotonically increasing count, per label set. */
export class Counter implements Metric {
  readonly #name: string;
  readonly #help: string;
  readonly #values = new Map<string, number>();

  constructor(name: string, help: string) {
    this.#name = name;
    this.#help = help;
  }

  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }

  render(lines: string[]): void {
    header(lines, this.#name, this.#help, 'counter');
    for (const [key, value] of this.#values) lines.push(`${this.#name}${key} ${value}`);
  }
}

/** One value, or one value per label set. */
export type Readout = number | ReadonlyArray<readonly [Labels, number]>;

/**
 * A value read when the metrics are scraped, from the object that owns it. `type` is
 * `counter` for a count kept elsewhere (it must only grow).
 */
export class Gauge implements Metric {
  readonly #name: string;
  readonly #help: string;
  readonly #read: () => Readout;
  readonly #type: 'gauge' | 'counter';

  constructor(name: string, help: string, read: () => Readout, type: 'gauge' | 'counter' = 'gauge') {
    this.#name = name;
    this.#help = help;
    this.#read = read;
    this.#type = type;
  }

  render(lines: string[]): void {
    header(lines, this.#name, this.#help, this.#type);
    const value = this.#read();
    if (typeof value === 'number') {
      lines.push(`${this.#name} ${value}`);
      return;
    }
    for (const [labels, n] of value) lines.push(`${this.#name}${labelKey(labels)} ${n}`);
  }
}

interface HistogramSeries {
  readonly buckets: number[];
  sum: number;
  count: number;
}

/** Observations counted into fixed upper bounds, per label set. */
export class Histogram implements Metric {
  readonly #name: string;
  readonly #help: string;
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, HistogramSeries>();

  constructor(name: string, help: string, bounds: readonly number[]) {
    this.#name = name;
    this.#help = help;
    this.#bounds = bounds;
  }

  observe(labels: Labels, value: number): void {
    const key = labelKey(labels);
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { buckets: new Array<number>(this.#bounds.length).fill(0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    const index = this.#bounds.findIndex((bound) => value <= bound);
    if (index >= 0) series.buckets[index] = (series.buckets[index] ?? 0) + 1;
    series.sum += value;
    series.count += 1;
  }

  render(lines: string[]): void {
    header(lines, this.#name, this.#help, 'histogram');
    for (const [key, series] of this.#series) {
      const inner = key === '' ? '' : key.slice(1, -1);
      const withLe = (le: string): string => `{${inner === '' ? '' : `${inner},`}le="${le}"}`;
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += series.buckets[i] ?? 0;
        lines.push(`${this.#name}_bucket${withLe(String(bound))} ${cumulative}`);
      });
      lines.push(`${this.#name}_bucket${withLe('+Inf')} ${series.count}`);
      lines.push(`${this.#name}_sum${key} ${series.sum}`, `${this.#name}_count${key} ${series.count}`);
    }
  }
}

/** Holds metrics in registration order and renders them all. */
export class Registry {
  readonly #metrics: Metric[] = [];

  register<M extends Metric>(metric: M): M {
    this.#metrics.push(metric);
    return metric;
  }

  render(): string {
    const lines: string[] = [];
    for (const metric of this.#metrics) metric.render(lines);
    return `${lines.join('\n')}\n`;
  }
}
