import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from '../../src/metrics/registry.ts';

describe('Registry', () => {
  it('renders counters, gauges and cumulative histograms in the text format', () => {
    const registry = new Registry();
    const counter = registry.register(new Counter('c_total', 'A counter.'));
    registry.register(new Gauge('g', 'A gauge.', () => 3));
    const histogram = registry.register(new Histogram('h_seconds', 'A histogram.', [0.1, 1]));
    counter.inc({ op: 'get', status: '200' });
    counter.inc({ status: '200', op: 'get' }, 2);
    counter.inc({ op: 'say "hi"\n' });
    histogram.observe({ op: 'get' }, 0.05);
    histogram.observe({ op: 'get' }, 0.5);
    histogram.observe({ op: 'get' }, 5);
    const lines = registry.render().split('\n');
    assert.ok(lines.includes('# TYPE c_total counter'));
    assert.ok(lines.includes('c_total{op="get",status="200"} 3'), 'label order does not split series');
    assert.ok(lines.includes('c_total{op="say \\"hi\\"\\n"} 1'), 'label values are escaped');
    assert.ok(lines.includes('g 3'));
    assert.ok(lines.includes('h_seconds_bucket{op="get",le="0.1"} 1'));
    assert.ok(lines.includes('h_seconds_bucket{op="get",le="1"} 2'));
    assert.ok(lines.includes('h_seconds_bucket{op="get",le="+Inf"} 3'));
    assert.ok(lines.includes('h_seconds_count{op="get"} 3'));
    assert.ok(lines.includes('h_seconds_sum{op="get"} 5.55'));
  });
});
