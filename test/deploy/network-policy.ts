/**
 * A small NetworkPolicy evaluator for the deployment tests: given rendered
 * policies, may a source pod open a connection to a destination (a pod or an
 * outside address) on a port? Kubernetes semantics (networking.k8s.io/v1):
 *
 * - a pod selected by no policy of a direction is open in that direction;
 *   once selected, only what some selecting policy's rules allow passes;
 * - policyTypes default to Ingress, plus Egress when the policy has egress rules;
 * - a rule matches when one of its ports matches (no ports: any) and one of
 *   its peers matches (no peers: anyone);
 * - peers: podSelector alone = pods of the policy's namespace;
 *   namespaceSelector (+ podSelector) = pods in the selected namespaces;
 *   ipBlock = addresses in cidr minus except (pods have addresses too);
 * - named ports resolve against the destination pod's container ports.
 */
import { isObject, Json, JsonObject, K8sObject, podSpecOf } from './kustomize';

export interface PodEndpoint {
  namespace: string;
  labels: Record<string, string>;
  /** Extra labels of the namespace; kubernetes.io/metadata.name is implied. */
  namespaceLabels?: Record<string, string>;
  ip: string;
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
}
export interface ExternalEndpoint {
  ip: string;
}
export type Endpoint = PodEndpoint | ExternalEndpoint;

const isPod = (e: Endpoint): e is PodEndpoint => 'namespace' in e;

function selectorMatches(selector: Json | undefined, labels: Record<string, string>): boolean {
  if (!isObject(selector)) return false;
  const ml = isObject(selector.matchLabels) ? selector.matchLabels : {};
  if (!Object.entries(ml).every(([k, v]) => labels[k] === v)) return false;
  const exprs = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
  return exprs.every((e) => {
    if (!isObject(e)) return false;
    const key = String(e.key);
    const values = (Array.isArray(e.values) ? e.values : []).map(String);
    switch (e.operator) {
      case 'In':
        return key in labels && values.includes(labels[key]);
      case 'NotIn':
        return !(key in labels) || !values.includes(labels[key]);
      case 'Exists':
        return key in labels;
      case 'DoesNotExist':
        return !(key in labels);
      default:
        throw new Error(`unknown selector operator ${String(e.operator)}`);
    }
  });
}

function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${ip}`);
  }
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

export function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(ipToInt(base) / size) * size;
  const n = ipToInt(ip);
  return n >= start && n < start + size;
}

function namespaceLabels(p: PodEndpoint): Record<string, string> {
  return { ...p.namespaceLabels, 'kubernetes.io/metadata.name': p.namespace };
}

function peerMatches(peer: Json, policyNamespace: string, other: Endpoint): boolean {
  if (!isObject(peer)) return false;
  if (isObject(peer.ipBlock)) {
    const block = peer.ipBlock;
    const except = (Array.isArray(block.except) ? block.except : []).map(String);
    return inCidr(other.ip, String(block.cidr)) && !except.some((c) => inCidr(other.ip, c));
  }
  if (!isPod(other)) return false;
  if (peer.namespaceSelector !== undefined) {
    if (!selectorMatches(peer.namespaceSelector, namespaceLabels(other))) return false;
  } else if (other.namespace !== policyNamespace) {
    return false;
  }
  return peer.podSelector === undefined || selectorMatches(peer.podSelector, other.labels);
}

function portMatches(rulePort: Json, port: number, protocol: string, dest: Endpoint): boolean {
  if (!isObject(rulePort)) return false;
  if ((rulePort.protocol ?? 'TCP') !== protocol) return false;
  if (rulePort.port === undefined) return true;
  if (typeof rulePort.port === 'string') {
    // A named port: the destination pod's container port of that name.
    return (
      isPod(dest) &&
      (dest.ports ?? []).some(
        (p) => p.name === rulePort.port && p.containerPort === port && (p.protocol ?? 'TCP') === protocol,
      )
    );
  }
  const end = typeof rulePort.endPort === 'number' ? rulePort.endPort : rulePort.port;
  return port >= Number(rulePort.port) && port <= Number(end);
}

function policyTypes(policy: K8sObject): string[] {
  const spec = policy.spec as JsonObject;
  if (Array.isArray(spec.policyTypes)) return spec.policyTypes.map(String);
  return Array.isArray(spec.egress) ? ['Ingress', 'Egress'] : ['Ingress'];
}

/** Is the connection allowed in one direction, seen from `subject` (the pod the policies select)? */
function sideAllows(
  policies: K8sObject[],
  direction: 'Ingress' | 'Egress',
  subject: PodEndpoint,
  other: Endpoint,
  port: number,
  protocol: string,
  dest: Endpoint,
): boolean {
  const selecting = policies.filter(
    (p) =>
      p.metadata.namespace === subject.namespace &&
      policyTypes(p).includes(direction) &&
      selectorMatches((p.spec as JsonObject).podSelector, subject.labels),
  );
  if (selecting.length === 0) return true;
  const rulesKey = direction === 'Ingress' ? 'ingress' : 'egress';
  const peersKey = direction === 'Ingress' ? 'from' : 'to';
  return selecting.some((p) => {
    const rules = (p.spec as JsonObject)[rulesKey];
    return (Array.isArray(rules) ? rules : []).some((rule) => {
      if (!isObject(rule)) return false;
      const ports = Array.isArray(rule.ports) ? rule.ports : [];
      const peers = Array.isArray(rule[peersKey]) ? (rule[peersKey] as Json[]) : [];
      return (
        (ports.length === 0 || ports.some((rp) => portMatches(rp, port, protocol, dest))) &&
        (peers.length === 0 || peers.some((peer) => peerMatches(peer, p.metadata.namespace!, other)))
      );
    });
  });
}

/** May `from` open a connection to `to` on `port`/`protocol` under the union of `policies`? */
export function connectionAllowed(
  policies: K8sObject[],
  from: PodEndpoint,
  to: Endpoint,
  port: number,
  protocol = 'TCP',
): boolean {
  const netpols = policies.filter((p) => p.kind === 'NetworkPolicy');
  return (
    sideAllows(netpols, 'Egress', from, to, port, protocol, to) &&
    (!isPod(to) || sideAllows(netpols, 'Ingress', to, from, port, protocol, to))
  );
}

/** The pods a rendered workload runs, as endpoints (namespace, template labels, declared ports). */
export function podOf(workload: K8sObject, ip: string): PodEndpoint {
  const spec = workload.spec as JsonObject;
  const template = spec.template as JsonObject;
  const labels = ((template.metadata as JsonObject).labels ?? {}) as Record<string, string>;
  const containers = (podSpecOf(workload)!.containers ?? []) as JsonObject[];
  const ports = containers.flatMap(
    (c) => (Array.isArray(c.ports) ? c.ports : []) as unknown as NonNullable<PodEndpoint['ports']>,
  );
  return { namespace: workload.metadata.namespace!, labels, ip, ports };
}
