/**
 * The image runs `check` too (issue 16): the image make cluster-e2e built, started by the kubelet with only `check -`
 * as its arguments (what `docker run -i IMAGE check -` does: the entry point stays `node dist/bin.js`), reading the
 * manifests on standard input, exits with check's code and prints its findings.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { IMAGE, REPO_ROOT, TEAM_NAMESPACE, ensureTeamNamespace, kubectl } from './cluster.ts';

const ImageCheck = suite('cluster: the image runs check on standard input');

async function runCheck(name: string, manifest: string) {
  await ensureTeamNamespace();
  return kubectl(
    ['run', name, `--namespace=${TEAM_NAMESPACE}`, `--image=${IMAGE}`, '--image-pull-policy=Never', '--restart=Never', '-i', '--rm', '--quiet', '--', 'check', '-'],
    { stdin: readFileSync(join(REPO_ROOT, 'examples', manifest), 'utf8'), timeoutMs: 120_000 },
  );
}

ImageCheck('a denied RoleBinding on standard input :: exit 1, the findings printed', async () => {
  const ran = await runCheck('check-denied', 'rolebinding-denied.yaml');
  assert.is(ran.code, 1, `${ran.stdout}\n${ran.stderr}`);
  assert.match(ran.stdout, 'DENIED RoleBinding payments/carol-edit  (stdin#1)');
  assert.match(ran.stdout, '[user-subject]');
});

ImageCheck('a compliant RoleBinding :: exit 0', async () => {
  const ran = await runCheck('check-compliant', 'rolebinding-compliant.yaml');
  assert.is(ran.code, 0, `${ran.stdout}\n${ran.stderr}`);
  assert.match(ran.stdout, 'ok     RoleBinding payments/payments-developers  (stdin#1)');
});

ImageCheck.run();
