/**
 * What a part of the webhook says of its readiness: the policy store produces it, the drain narrows it, /readyz shows
 * it. Below both the Kubernetes and the HTTP side, so neither reaches into the other for it.
 */
export interface Readiness {
  readonly ready: boolean;
  /** Shown in /readyz: e.g. which policy is in force. */
  readonly detail: Readonly<Record<string, unknown>>;
}
