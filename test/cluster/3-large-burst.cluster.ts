/**
 * Issue 14, point 4: bursts of the largest reviews are answered, within memory. A RoleBinding near the largest object
 * this etcd stores (about 1.85 MiB, 19,000 group subjects) is annotated by twelve kubectl processes at once, three
 * times; each UPDATE's review carries the object and the old object (about 3.7 MiB). With the chart's default resources every update must
 * succeed and no pod may be OOM-killed. Memory figures, read from the node's cgroup v1 files: each webhook container's
 * cgroup peak (memory.max_usage_in_bytes, page cache included: the node binary and libraries count there) and its
 * memory sampled every 50 ms during the bursts (memory.stat: rss, the heap and stacks; and rss + mapped_file).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TEAM_NAMESPACE, groupBinding, installChart, kubectl, rbacApi, recordFigures, rolledOut, webhookPods } from './cluster.ts';

const Burst = suite('cluster: bursts of the largest reviews');

const UPDATES = 12;
const SUBJECTS = 19_000;
const ROUNDS = 3;
const NAME = 'large';
const LABEL = 'entra-rbac-guard.test/large';

const groupOf = (binding: number) => (index: number) => `${binding.toString(16).padStart(8, '0')}-0000-4000-8000-${index.toString(16).padStart(12, '0')}`;

/** The memory cgroup directory of every webhook container on this node, found through its processes. */
function webhookMemoryCgroups(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let cmdline: string;
    let cgroups: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmdline.includes('/app/dist/bin.js\0serve')) continue;
      cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    } catch {
      continue;
    }
    const memory = cgroups.split('\n').find((line) => /^\d+:memory:/.test(line))?.split(':')[2];
    if (memory) found.push(`/sys/fs/cgroup/memory${memory}`);
  }
  return found;
}

/**
 * The container's memory now, from memory.stat: anonymous (rss: heap, stacks) and that plus mapped files (the binary).
 * Zero once the cgroup is gone (its container ended: a restart shows in the pod's status, which the test checks).
 */
function residentBytes(cgroup: string): { anonymous: number; resident: number } {
  let text: string;
  try {
    text = readFileSync(`${cgroup}/memory.stat`, 'utf8');
  } catch {
    return { anonymous: 0, resident: 0 };
  }
  const stat = Object.fromEntries(text.trim().split('\n').map((line) => line.split(' ') as [string, string]));
  return { anonymous: Number(stat['rss']), resident: Number(stat['rss']) + Number(stat['mapped_file']) };
}

/** memory.max_usage_in_bytes of a container's cgroup; undefined once the cgroup is gone. */
function peakBytes(cgroup: string): number | undefined {
  try {
    return Number(readFileSync(`${cgroup}/memory.max_usage_in_bytes`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Samples every webhook container's memory every 50 ms; `stop()` gives the largest of each figure seen. */
function sampleResident(cgroups: readonly string[]): { stop: () => { anonymous: number; resident: number } } {
  const peak = { anonymous: 0, resident: 0 };
  const sample = () => {
    for (const cgroup of cgroups) {
      const now = residentBytes(cgroup);
      peak.anonymous = Math.max(peak.anonymous, now.anonymous);
      peak.resident = Math.max(peak.resident, now.resident);
    }
  };
  sample();
  const timer = setInterval(sample, 50);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

Burst.before(async () => {
  await installChart();
  await rolledOut();
});

Burst.after(async () => {
  await kubectl(['delete', 'rolebindings', '-n', TEAM_NAMESPACE, '-l', LABEL, '--wait=false']);
});

Burst(`${UPDATES} concurrent kubectl annotate of one ${SUBJECTS}-subject RoleBinding, ${ROUNDS} rounds, default resources :: all succeed, no OOM kill`, async () => {
  const body = groupBinding(NAME, SUBJECTS, groupOf(0));
  body.metadata!.labels = { [LABEL]: 'true' };
  process.stderr.write(`  (the binding is ${(Buffer.byteLength(JSON.stringify(body)) / 1024 / 1024).toFixed(2)} MiB as JSON)\n`);
  await rbacApi().createNamespacedRoleBinding({ namespace: TEAM_NAMESPACE, body });
  const cgroups = webhookMemoryCgroups();
  const resident = sampleResident(cgroups);
  const failures: string[] = [];
  let updates = 0;
  for (let round = 1; round <= ROUNDS; round += 1) {
    const started = Date.now();
    // Each is a PATCH: the API server reads the object, applies it and calls the webhook with object and oldObject
    // (about 3.7 MiB), retrying (and calling again) when another of the twelve wrote first.
    const results = await Promise.all(
      Array.from({ length: UPDATES }, (_, index) => kubectl(['annotate', 'rolebinding', NAME, `--namespace=${TEAM_NAMESPACE}`, '--overwrite', `entra-rbac-guard.test/update-${index}=round-${round}`])),
    );
    updates += results.length;
    results.forEach((result, index) => {
      if (result.code !== 0) failures.push(`round ${round}, update ${index}: ${result.stderr.trim()}`);
    });
    process.stderr.write(`  (round ${round}: ${UPDATES} updates in ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  }
  const pods = await webhookPods();
  const oomKills = pods.filter((pod) => pod.lastTermination === 'OOMKilled').length;
  const restarts = pods.reduce((sum, pod) => sum + pod.restarts, 0);
  const residentPeak = resident.stop();
  const peaks = cgroups.flatMap((cgroup) => peakBytes(cgroup) ?? []);
  const mib = (bytes: number) => Math.round(bytes / 1024 / 1024);
  recordFigures({ burstUpdates: updates, burstFailed: failures.length, oomKills, memoryPeakMiB: mib(Math.max(0, ...peaks)), residentPeakMiB: mib(residentPeak.resident), anonymousPeakMiB: mib(residentPeak.anonymous) });
  assert.equal(failures, [], `${failures.length} of ${updates} updates failed`);
  assert.is(oomKills, 0, JSON.stringify(pods));
  assert.is(restarts, 0, `container restarts: ${JSON.stringify(pods)}`);
  assert.is(peaks.length, pods.length, `found the memory cgroups of ${peaks.length} of ${pods.length} webhook containers, before and after the bursts`);
  assert.ok(peaks.every((peak) => peak < 256 * 1024 * 1024), `memory peaks ${peaks.map(mib)} MiB, limit 256 MiB`);
});

Burst.run();
