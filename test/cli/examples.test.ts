/**
 * examples/: the files the README tells users to copy from, judged by the real CLI so that what examples/README.md
 * says of each stays true.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SnapshotDirectory } from '../../src/directory/snapshot.ts';
import { buildServer } from '../../src/http/server.ts';
import { generateSelfSigned } from '../../src/http/tls.ts';
import { DEFAULT_POLICY } from '../../src/policy/parse.ts';
import { RECORDED_REVIEWS } from '../helpers.ts';
import { ROOT, runCli, stopAllCli } from './spawn-cli.ts';

type Json = Record<string, any>;

const EXAMPLES = join(ROOT, 'examples');
const SNAPSHOT = join(EXAMPLES, 'directory-snapshot.yaml');
const env = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ENTRA_RBAC_GUARD_')));

async function checkJson(file: string, ...extra: string[]): Promise<{ code: number | null; report: Json }> {
  const ran = await runCli(['check', '--directory', SNAPSHOT, '--output', 'json', ...extra, join(EXAMPLES, file)], env());
  assert.not.match(ran.stderr, /error/i, `check ${file}`);
  return { code: ran.code, report: JSON.parse(ran.stdout) as Json };
}

const examples = suite('examples');
examples.after(stopAllCli);

examples('rolebinding-compliant.yaml :: an Entra group by object ID :: allowed, exit 0', async () => {
  const { code, report } = await checkJson('rolebinding-compliant.yaml');
  assert.is(code, 0);
  assert.equal(report['summary']['denied'], 0);
  assert.equal(report['results'].map((result: Json) => [result['name'], result['allowed'], result['violations'].length]), [['payments-developers', true, 0]]);
});

examples('rolebinding-denied.yaml :: a user and system:authenticated :: denied by user-subject and broad-group, exit 1', async () => {
  const { code, report } = await checkJson('rolebinding-denied.yaml');
  assert.is(code, 1);
  const [result] = report['results'] as Json[];
  assert.is(result!['allowed'], false);
  assert.equal(result!['violations'].map((violation: Json) => [violation['rule'], violation['action'], violation['subject']['name']]), [
    ['user-subject', 'deny', 'carol@fabrikam.com'],
    ['broad-group', 'deny', 'system:authenticated'],
  ]);
});

examples('policy-aks.yaml :: policy validate :: valid; check with it keeps the two decisions', async () => {
  const validated = await runCli(['policy', 'validate', join(EXAMPLES, 'policy-aks.yaml')], env());
  assert.is(validated.code, 0, validated.stderr);
  const policy = ['--policy', join(EXAMPLES, 'policy-aks.yaml')];
  assert.is((await checkJson('rolebinding-compliant.yaml', ...policy)).code, 0);
  assert.is((await checkJson('rolebinding-denied.yaml', ...policy)).code, 1);
});

examples('the README quick start :: make run\'s directory and policy :: a known group allowed, an unknown one denied [group-unknown], a user denied', async () => {
  const app = buildServer({ tls: await generateSelfSigned(), currentPolicy: () => DEFAULT_POLICY, directory: await SnapshotDirectory.fromFile(SNAPSHOT) });
  const answer = async (file: string) => {
    const res = await app.inject({ method: 'POST', url: '/validate', headers: { 'content-type': 'application/json' }, payload: readFileSync(file, 'utf8') });
    assert.is(res.statusCode, 200, res.body);
    const response = (JSON.parse(res.body) as Json)['response'] as Json;
    return [response['allowed'], String(response['status']?.['message'] ?? '').match(/\[([a-z-]+)\]/)?.[1]];
  };
  try {
    assert.equal(await answer(join(RECORDED_REVIEWS, '01-CREATE-RoleBinding-payments-viewers.json')), [true, undefined]);
    assert.equal(await answer(join(EXAMPLES, 'review-unknown-group.json')), [false, 'group-unknown']);
    assert.equal(await answer(join(RECORDED_REVIEWS, '02-CREATE-RoleBinding-carol-admin.json')), [false, 'user-subject']);
  } finally {
    await app.close();
  }
});

examples.run();
