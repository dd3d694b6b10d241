/**
 * The chart's NetworkPolicy through the real helm: off by default; on, the webhook port open only to the API server's
 * CIDRs, the node CIDRs and the selected scraper, and egress only to the API server, DNS and the directory (plus IMDS
 * with the node's managed identity); refused without the API server's addresses. test/cluster/6-monitoring.cluster.ts
 * has a real API server accept it.
 */
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { all, find, render, renderError, VALUES_DIR, type K8sObject } from './helm.ts';

type Json = Record<string, any>;

const SELECTOR = { 'app.kubernetes.io/name': 'entra-rbac-guard', 'app.kubernetes.io/instance': 'rel' };
const MINIMAL = { networkPolicy: { enabled: true, ingress: { apiServerCidrs: ['0.0.0.0/0'] }, egress: { apiServerCidrs: ['10.0.0.1/32'] } } };
const KUBE_DNS = {
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
  podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
};
const DNS_RULE = { ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }], to: [KUBE_DNS] };

function policyOf(objects: readonly K8sObject[]): Json {
  const policy = find(objects, 'NetworkPolicy');
  assert.is(policy.apiVersion, 'networking.k8s.io/v1');
  return policy.spec;
}

const Policy = suite('chart :: NetworkPolicy');

Policy('off by default', () => {
  assert.equal(all(render(), 'NetworkPolicy'), []);
});

Policy('minimal :: the webhook pods, both directions isolated; only the webhook port in; API server, DNS and Graph on 443 out', () => {
  const spec = policyOf(render({ values: MINIMAL }));
  assert.equal(spec.podSelector, { matchLabels: SELECTOR });
  assert.equal(spec.policyTypes, ['Ingress', 'Egress']);
  assert.equal(spec.ingress, [{ ports: [{ port: 8443, protocol: 'TCP' }], from: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }]);
  assert.equal(spec.egress, [
    { ports: [{ port: 443, protocol: 'TCP' }, { port: 6443, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '10.0.0.1/32' } }] },
    DNS_RULE,
    { ports: [{ port: 443, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] },
  ]);
});

Policy('values/monitoring.yaml :: node CIDRs, the scraper by namespace AND pod, narrower egress; the port follows server.port', () => {
  const spec = policyOf(render({ valuesFiles: [join(VALUES_DIR, 'monitoring.yaml')], values: { server: { port: 9443 } } }));
  assert.equal(spec.ingress, [
    {
      ports: [{ port: 9443, protocol: 'TCP' }],
      from: [
        { ipBlock: { cidr: '0.0.0.0/0' } },
        { ipBlock: { cidr: '10.224.0.0/16' } },
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
        },
      ],
    },
  ]);
  assert.equal(spec.egress, [
    { ports: [{ port: 443, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '20.50.60.70/32' } }] },
    DNS_RULE,
    { ports: [{ port: 3128, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '10.1.2.3/32' } }] },
  ]);
});

Policy('a scraper by namespace only :: a peer with the namespaceSelector alone (any pod there)', () => {
  const monitoring = { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } };
  const spec = policyOf(render({ values: { networkPolicy: { ...MINIMAL.networkPolicy, ingress: { apiServerCidrs: ['172.16.0.0/12'], metrics: { namespaceSelector: monitoring } } } } }));
  assert.equal(spec.ingress[0].from, [{ ipBlock: { cidr: '172.16.0.0/12' } }, { namespaceSelector: monitoring }]);
});

Policy('directory.managedIdentity :: IMDS on port 80 is allowed too', () => {
  const spec = policyOf(render({ values: { ...MINIMAL, directory: { managedIdentity: true } } }));
  assert.equal(spec.egress.at(-1), { ports: [{ port: 80, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '169.254.169.254/32' } }] });
});

Policy('no directory CIDRs :: no egress rule to the directory', () => {
  const spec = policyOf(render({ values: { networkPolicy: { ...MINIMAL.networkPolicy, egress: { apiServerCidrs: ['10.0.0.1/32'], directoryCidrs: [] } } } }));
  assert.equal(spec.egress.length, 2);
});

for (const [name, values, message] of [
  ['without the API server ingress CIDRs', { networkPolicy: { enabled: true, egress: { apiServerCidrs: ['10.0.0.1/32'] } } }, 'networkPolicy.enabled needs networkPolicy.ingress.apiServerCidrs'],
  ['without the API server egress CIDRs', { networkPolicy: { enabled: true, ingress: { apiServerCidrs: ['0.0.0.0/0'] } } }, 'networkPolicy.enabled needs networkPolicy.egress.apiServerCidrs'],
  ['a CIDR that is a host name', { networkPolicy: { ...MINIMAL.networkPolicy, egress: { apiServerCidrs: ['graph.microsoft.com'] } } }, "at '/networkPolicy/egress/apiServerCidrs/0'"],
  ['an address without a prefix length', { networkPolicy: { ...MINIMAL.networkPolicy, ingress: { apiServerCidrs: ['10.0.0.1'] } } }, "at '/networkPolicy/ingress/apiServerCidrs/0'"],
  ['no API server port', { networkPolicy: { ...MINIMAL.networkPolicy, egress: { apiServerCidrs: ['10.0.0.1/32'], apiServerPorts: [] } } }, "at '/networkPolicy/egress/apiServerPorts'"],
  ['a misspelt key', { networkPolicy: { ...MINIMAL.networkPolicy, ingres: {} } }, "additional properties 'ingres' not allowed"],
] as const) {
  Policy(`${name} :: refused, saying what to set`, () => {
    assert.match(renderError({ values: values as Json }), message);
  });
}

Policy('the AKS advice is in the refusal :: 0.0.0.0/0 on the webhook port, because the control plane is outside the cluster', () => {
  const stderr = renderError({ values: { networkPolicy: { enabled: true } } });
  assert.match(stderr, 'on AKS the control plane comes from addresses outside the cluster (often through konnectivity)');
  assert.match(stderr, '["0.0.0.0/0"] (the webhook port only)');
});

Policy.run();
