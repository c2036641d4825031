/**
 * The deploy/ examples say what the docs promise: image tags at the package version, and
 * the native sidecar shaped as Kubernetes needs it (checked on the text: no YAML parser
 * is worth a dependency for this).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(import.meta.dirname, '..', '..');
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const manifests = ['asyncactor', 'kubernetes'].flatMap((dir) => readdirSync(join(ROOT, 'deploy', dir)).map((file) => join(ROOT, 'deploy', dir, file)));

describe('deploy/ examples', () => {
  it('every connector image tag is the package version', () => {
    const tags = manifests.flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/asya-state-proxy-gcs-buffered-(?:lww|cas):(\S+)/g)].map((match) => [file, match[1]]));
    assert.ok(tags.length >= 4, `found ${tags.length} image references`);
    for (const [file, tag] of tags) assert.equal(tag, `v${version}`, file);
  });

  it('the native sidecar is an init container with restartPolicy: Always and a startup probe, before the actor', () => {
    const text = readFileSync(join(ROOT, 'deploy', 'kubernetes', 'native-sidecar-deployment.yaml'), 'utf8');
    const init = text.indexOf('initContainers:');
    const containers = text.indexOf('\n      containers:');
    assert.ok(init >= 0 && containers > init, 'initContainers come before containers');
    const sidecar = text.slice(init, containers);
    assert.match(sidecar, /image: ghcr\.io\/deliveryhero\/asya-state-proxy-gcs-buffered-cas:/);
    assert.match(sidecar, /\n {10}restartPolicy: Always\n/);
    assert.match(sidecar, /startupProbe:\n {12}httpGet: \{ path: \/healthz, port: ops \}/);
    assert.match(text.slice(containers), /name: actor/);
  });

  it('the plain sidecar delays the connector\'s stop with a preStop sleep, inside the grace period', () => {
    const text = readFileSync(join(ROOT, 'deploy', 'kubernetes', 'sidecar-deployment.yaml'), 'utf8');
    const sleep = Number(/preStop:\n\s+sleep:\n\s+seconds: (\d+)/.exec(text)?.[1]);
    const grace = Number(/terminationGracePeriodSeconds: (\d+)/.exec(text)?.[1]);
    assert.ok(sleep > 0 && grace >= sleep + 25, `preStop ${sleep} s + 25 s drain within ${grace} s`);
  });
});
