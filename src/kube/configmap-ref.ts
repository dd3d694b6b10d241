/** `--policy-configmap NAMESPACE/NAME`, checked without loading the Kubernetes client (the CLI parses it for every serve). */

export interface ConfigMapRef {
  readonly namespace: string;
  readonly name: string;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A Kubernetes object name: lower-case alphanumeric segments with dashes, joined by dots. */
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** `NAMESPACE/NAME` → the reference, or a message saying what is wrong with it. */
export function parseConfigMapRef(text: string): ConfigMapRef | { readonly error: string } {
  const parts = text.split('/');
  const [namespace, name] = parts;
  if (parts.length !== 2 || !namespace || !name) return { error: `--policy-configmap takes NAMESPACE/NAME, got "${text}"` };
  if (!DNS1123_LABEL.test(namespace)) return { error: `--policy-configmap: "${namespace}" is not a namespace name (lower-case letters, digits and '-', at most 63)` };
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    return { error: `--policy-configmap: "${name}" is not a ConfigMap name (lower-case letters, digits, '-' and '.', at most 253)` };
  }
  return { namespace, name };
}
