/**
 * A small kustomize renderer for the deployment tests: renders k8s/overlays/* without kubectl or
 * kustomize binaries (Debian's kubectl is too old for these overlays, and no npm package renders
 * kustomizations). What it renders is then validated against Kubernetes' schemas (schemas.spec.ts).
 *
 * It implements exactly the features k8s/ uses, with kustomize's semantics, and throws on anything
 * else (an unknown kustomization field, a JSON 6902 patch, commonLabels, a remote base, ...) so that a
 * manifest change the renderer cannot follow fails the tests instead of being silently ignored:
 *
 * - resources: files (multi-document YAML) and directories (kustomizations)
 * - namespace: sets metadata.namespace on namespaced objects
 * - labels: pairs with includeSelectors: false (metadata.labels) and includeTemplates (pod template
 *   labels); includeSelectors: true refused
 * - images: name -> newName / newTag / digest on every pod container
 * - configMapGenerator: `envs` files and `literals`, `options.labels` / `options.annotations`; the
 *   object can be patched by its plain name, and only the outermost kustomization appends kustomize's
 *   content hash to the name and rewrites the references to it in pod specs (envFrom, env valueFrom,
 *   volumes), as `kustomize build` does
 * - patches: strategic merge patches from `path` or inline `patch`, matched by kind + name (or an
 *   explicit target kind/name), with the Kubernetes list merge keys (containers/volumes/env/... by
 *   name, volumeMounts by mountPath, ports by containerPort or port), `null` deleting a key and
 *   `$patch: delete` deleting a list item or a whole object.
 *
 * Transformer order follows kustomize: resources and generators, patches, namespace, labels, images;
 * name hashes last.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface K8sObject extends JsonObject {
  apiVersion: string;
  kind: string;
  metadata: JsonObject & {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
}

const CLUSTER_SCOPED_KINDS = new Set(
  'Namespace ClusterRole ClusterRoleBinding CustomResourceDefinition PersistentVolume StorageClass PriorityClass IngressClass ValidatingWebhookConfiguration MutatingWebhookConfiguration'.split(
    ' ',
  ),
);
/** Kinds whose pod template lives at spec.template. */
const TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);
/** Strategic-merge list keys (patchMergeKey in the Kubernetes API types). */
const LIST_MERGE_KEYS: Record<string, string> = {
  ...Object.fromEntries(
    ['containers', 'initContainers', 'ephemeralContainers', 'volumes', 'env', 'imagePullSecrets'].map((f) => [
      f,
      'name',
    ]),
  ),
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
};

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));
const lists = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);

/** Refuses keys of `o` outside `allowed`: a feature the renderer does not implement. */
function only(where: string, o: JsonObject, allowed: string[]): void {
  const unknown = Object.keys(o).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new Error(`${where}: "${unknown}" is not supported by test/deploy/kustomize.ts`);
}
/** A kustomization field that must be a list (or absent). */
function listField(where: string, v: Json | undefined): Json[] {
  if (v !== undefined && v !== null && !Array.isArray(v)) throw new Error(`${where} must be a list`);
  return v ?? [];
}

/** Parse a multi-document YAML text; empty documents are skipped. */
export function parseYamlDocuments(text: string, source: string): Json[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as Json;
    return value === null || value === undefined ? [] : [value];
  });
}

function readKustomization(dir: string): JsonObject {
  const found = ['kustomization.yaml', 'kustomization.yml', 'Kustomization']
    .map((n) => path.join(dir, n))
    .filter((p) => fs.existsSync(p));
  if (found.length !== 1)
    throw new Error(`${dir}: expected exactly one kustomization file, found ${found.length}`);
  const [k] = parseYamlDocuments(fs.readFileSync(found[0], 'utf8'), found[0]);
  if (!isObject(k) || (k.kind ?? 'Kustomization') !== 'Kustomization')
    throw new Error(`${found[0]}: not a Kustomization`);
  only(found[0], k, [
    'apiVersion',
    'kind',
    'resources',
    'configMapGenerator',
    'namespace',
    'labels',
    'images',
    'patches',
  ]);
  return k;
}

function asK8sObject(v: Json, source: string): K8sObject {
  const ok = isObject(v) && isObject(v.metadata) && typeof v.metadata.name === 'string';
  if (!ok || typeof v.kind !== 'string' || typeof v.apiVersion !== 'string')
    throw new Error(`${source}: a resource needs apiVersion, kind and metadata.name`);
  return v as K8sObject;
}

export const objectId = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? '~'}/${o.metadata.name}`;

function loadResources(dir: string, entries: Json | undefined): K8sObject[] {
  return listField(`${dir}: resources`, entries).flatMap((entry) => {
    if (typeof entry !== 'string' || /^[a-z]+:\/\//i.test(entry) || entry.startsWith('github.com/'))
      throw new Error(`${dir}: resource ${String(entry)} is not a local path`);
    const p = path.resolve(dir, entry);
    if (!fs.existsSync(p)) throw new Error(`${dir}: resource ${entry} does not exist`);
    if (fs.statSync(p).isDirectory()) return build(p);
    return parseYamlDocuments(fs.readFileSync(p, 'utf8'), p).map((doc) => asK8sObject(doc, p));
  });
}

// ---------------------------------------------------------------------------
// configMapGenerator and name hashes

/** Internal marker on generated objects until the outermost build hashes their names. */
const NEEDS_HASH = 'internal.kustomize.test/needs-hash-suffix';

/** One `KEY=VALUE` of an env file or a literal; refuses what kustomize versions read differently. */
function keyValue(source: string, text: string): [string, string] {
  const eq = text.indexOf('=');
  const [key, value] = [text.slice(0, eq), text.slice(eq + 1)];
  if (eq <= 0) throw new Error(`${source}: "${text}" is not KEY=VALUE`);
  if (!/^[A-Za-z_.-][A-Za-z0-9_.-]*$/.test(key)) throw new Error(`${source}: invalid key "${key}"`);
  if (/^["']/.test(value) || value !== value.trim())
    throw new Error(
      `${source}: the value of ${key} is quoted or padded (kustomize versions differ on those)`,
    );
  return [key, value];
}

const readEnvFile = (file: string): Array<[string, string]> =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((raw, n) => [raw.replace(/^\s+/, ''), `${file}:${n + 1}`])
    .filter(([line]) => line !== '' && !line.startsWith('#'))
    .map(([line, where]) => keyValue(where, line));

function generateConfigMaps(dir: string, generators: Json | undefined): K8sObject[] {
  return listField(`${dir}: configMapGenerator`, generators).map((g, n) => {
    const where = `${dir}: configMapGenerator[${n}]`;
    if (!isObject(g) || typeof g.name !== 'string') throw new Error(`${where} needs a name`);
    only(where, g, ['name', 'envs', 'literals', 'options']);
    const options = isObject(g.options) ? g.options : {};
    only(`${where}.options`, options, ['labels', 'annotations']);
    const data: Record<string, string> = {};
    const pairs = [
      ...lists(g.envs).flatMap((f) => readEnvFile(path.resolve(dir, String(f)))),
      ...lists(g.literals).map((l) => keyValue(where, String(l))),
    ];
    for (const [k, v] of pairs) {
      if (k in data) throw new Error(`${where}: key ${k} is defined twice`);
      data[k] = v;
    }
    const annotations = { ...(options.annotations as Record<string, string>), [NEEDS_HASH]: 'true' };
    const metadata = { name: g.name, annotations, ...(options.labels ? { labels: options.labels } : {}) };
    return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data } as K8sObject;
  });
}

const sorted = (m: Json | undefined): Json =>
  isObject(m)
    ? Object.fromEntries(
        Object.keys(m)
          .sort()
          .map((k) => [k, m[k]]),
      )
    : null;

/** kustomize's (and kubectl's) content hash of a ConfigMap: 10 characters, no vowels. */
export function configMapHash(cm: K8sObject): string {
  const encoded: JsonObject = { data: sorted(cm.data) };
  if (isObject(cm.binaryData) && Object.keys(cm.binaryData).length > 0)
    encoded.binaryData = sorted(cm.binaryData);
  if (typeof cm.immutable === 'boolean') encoded.immutable = cm.immutable;
  Object.assign(encoded, { kind: 'ConfigMap', name: cm.metadata.name });
  // Go's json.Marshal, which escapes these.
  const json = JSON.stringify(encoded).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  const hex = createHash('sha256').update(json).digest('hex');
  const swap: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };
  return hex.slice(0, 10).replace(/[013ae]/g, (c) => swap[c]);
}

/** Every ConfigMap reference of a pod spec (envFrom, env valueFrom, volumes), as settable objects. */
function configMapRefs(pod: JsonObject): JsonObject[] {
  const containers = [...lists(pod.containers), ...lists(pod.initContainers)].filter(isObject);
  const volumes = lists(pod.volumes).filter(isObject);
  const projected = volumes.flatMap((v) => (isObject(v.projected) ? lists(v.projected.sources) : []));
  return [
    ...containers.flatMap((c) => lists(c.envFrom)).map((f) => (isObject(f) ? f.configMapRef : null)),
    ...containers
      .flatMap((c) => lists(c.env))
      .map((e) => (isObject(e) && isObject(e.valueFrom) ? e.valueFrom.configMapKeyRef : null)),
    ...[...volumes, ...projected].map((v) => (isObject(v) ? v.configMap : null)),
  ].filter(isObject);
}

/** Appends the content hash to generated names and follows the references, like kustomize's last step. */
function applyNameHashes(resources: K8sObject[]): void {
  const renamed = new Map<string, string>();
  for (const r of resources.filter((x) => x.metadata.annotations?.[NEEDS_HASH])) {
    const annotations = r.metadata.annotations!;
    delete annotations[NEEDS_HASH];
    if (Object.keys(annotations).length === 0) delete r.metadata.annotations;
    const hashed = `${r.metadata.name}-${configMapHash(r)}`;
    renamed.set(`${r.metadata.namespace ?? ''}/${r.metadata.name}`, hashed);
    r.metadata.name = hashed;
  }
  for (const r of resources) {
    for (const ref of configMapRefs(podSpecOf(r) ?? {}))
      ref.name = renamed.get(`${r.metadata.namespace ?? ''}/${String(ref.name)}`) ?? ref.name;
  }
}

// ---------------------------------------------------------------------------
// Strategic merge patch

function stripDirectives(v: Json, where: string): Json {
  if (Array.isArray(v)) return v.map((i) => stripDirectives(i, where));
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, val] of Object.entries(v)) {
    if (k.startsWith('$')) throw new Error(`${where}: directive ${k} is not supported here`);
    if (val !== null) out[k] = stripDirectives(val, where);
  }
  return out;
}

function mergeList(field: string, orig: Json | undefined, patch: Json[], where: string): Json[] {
  const isReplace = (i: Json) => isObject(i) && i.$patch === 'replace' && Object.keys(i).length === 1;
  const items = patch.filter((i) => !isReplace(i));
  const all = [...lists(orig ?? null), ...items];
  // Container ports merge on containerPort, Service ports on port.
  const key =
    field === 'ports'
      ? all.some((i) => isObject(i) && 'containerPort' in i)
        ? 'containerPort'
        : 'port'
      : LIST_MERGE_KEYS[field];
  if (patch.some(isReplace) || key === undefined || !Array.isArray(orig)) {
    if (items.some((i) => isObject(i) && '$patch' in i))
      throw new Error(`${where}.${field}: $patch in a list without merge key`);
    return items.map((i) => stripDirectives(i, `${where}.${field}`));
  }
  const result: Json[] = clone(orig);
  for (const item of items) {
    if (!isObject(item) || item[key] === undefined)
      throw new Error(`${where}.${field}: patch item without merge key "${key}"`);
    const idx = result.findIndex((r) => isObject(r) && r[key] === item[key]);
    const at = `${where}.${field}[${key}=${String(item[key])}]`;
    if (item.$patch === 'delete') {
      if (idx < 0) throw new Error(`${at}: nothing to delete`);
      result.splice(idx, 1);
    } else if (item.$patch !== undefined) {
      throw new Error(`${at}: $patch: ${String(item.$patch)} is not supported`);
    } else if (idx >= 0) {
      result[idx] = strategicMerge(result[idx], item, at);
    } else {
      result.push(stripDirectives(item, at));
    }
  }
  return result;
}

/** Kubernetes strategic merge of `patch` onto `orig` (returns a new value). */
export function strategicMerge(orig: Json | undefined, patch: Json, where = ''): Json {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _ignored, ...rest } = patch;
    return stripDirectives(rest, where);
  }
  if (patch.$patch !== undefined)
    throw new Error(`${where}: $patch: ${String(patch.$patch)} is not supported here`);
  const result: JsonObject = isObject(orig) ? clone(orig) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) throw new Error(`${where}: directive ${k} is not supported`);
    if (v === null) delete result[k];
    else if (Array.isArray(v)) result[k] = mergeList(k, result[k], v, `${where}.${k}`);
    else result[k] = isObject(v) ? strategicMerge(result[k], v, `${where}.${k}`) : v;
  }
  return result;
}

function applyPatches(dir: string, resources: K8sObject[], patches: Json | undefined): K8sObject[] {
  let current = resources;
  for (const [n, entry] of listField(`${dir}: patches`, patches).entries()) {
    const source = `${dir}: patches[${n}]`;
    if (!isObject(entry) || (typeof entry.path === 'string') === (typeof entry.patch === 'string'))
      throw new Error(`${source} needs exactly one of path or patch`);
    only(source, entry, ['path', 'patch', 'target']);
    const target = isObject(entry.target) ? entry.target : {};
    only(`${source}.target`, target, ['kind', 'name']);
    const text =
      typeof entry.path === 'string'
        ? fs.readFileSync(path.resolve(dir, entry.path), 'utf8')
        : String(entry.patch);
    for (const doc of parseYamlDocuments(text, source)) {
      if (!isObject(doc)) throw new Error(`${source}: JSON 6902 patches are not supported`);
      const { kind = doc.kind, name = isObject(doc.metadata) ? doc.metadata.name : undefined } = target;
      const matches = current.filter((r) => r.kind === kind && r.metadata.name === name);
      if (matches.length !== 1)
        throw new Error(
          `${source}: patch target ${String(kind)}/${String(name)} matched ${matches.length} resources`,
        );
      if (doc.$patch === 'delete') {
        current = current.filter((r) => r !== matches[0]);
        continue;
      }
      // A patch never renames its target.
      const { kind: _k, apiVersion: _a, ...body } = clone(doc);
      if (isObject(body.metadata)) {
        const { name: _n, namespace: _ns, ...md } = body.metadata;
        body.metadata = md;
      }
      const merged = strategicMerge(matches[0], body, `${String(kind)}/${String(name)}`) as K8sObject;
      current = current.map((r) => (r === matches[0] ? merged : r));
    }
  }
  return current;
}

// ---------------------------------------------------------------------------
// namespace, labels, images

function applyLabels(dir: string, resources: K8sObject[], labels: Json | undefined): void {
  for (const entry of listField(`${dir}: labels`, labels)) {
    if (!isObject(entry) || !isObject(entry.pairs)) throw new Error(`${dir}: labels entries need pairs`);
    only(`${dir}: labels[]`, entry, ['pairs', 'includeSelectors', 'includeTemplates']);
    if (entry.includeSelectors === true)
      throw new Error(`${dir}: labels with includeSelectors: true are refused (selectors are immutable)`);
    for (const r of resources) {
      r.metadata.labels = { ...r.metadata.labels, ...(entry.pairs as Record<string, string>) };
      const spec = r.spec;
      if (
        entry.includeTemplates !== true ||
        !isObject(spec) ||
        !TEMPLATE_KINDS.has(r.kind) ||
        !isObject(spec.template)
      )
        continue;
      const meta = isObject(spec.template.metadata) ? spec.template.metadata : (spec.template.metadata = {});
      meta.labels = { ...(meta.labels as JsonObject), ...entry.pairs };
    }
  }
}

/** Split an image reference into name, tag and digest. */
export function parseImage(ref: string): { name: string; tag?: string; digest?: string } {
  const [rest, digest] = ref.split('@') as [string, string | undefined];
  const colon = rest.lastIndexOf(':');
  if (colon <= rest.lastIndexOf('/')) return { name: rest, tag: undefined, digest };
  return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), digest };
}

/** The pod spec of a workload object, if it has one. */
export function podSpecOf(r: K8sObject): JsonObject | undefined {
  const spec = r.spec;
  if (!isObject(spec)) return undefined;
  if (r.kind === 'Pod') return spec;
  const template = TEMPLATE_KINDS.has(r.kind)
    ? spec.template
    : r.kind === 'CronJob' && isObject(spec.jobTemplate) && isObject(spec.jobTemplate.spec)
      ? spec.jobTemplate.spec.template
      : undefined;
  return isObject(template) && isObject(template.spec) ? template.spec : undefined;
}

function applyImages(dir: string, resources: K8sObject[], images: Json | undefined): void {
  for (const entry of listField(`${dir}: images`, images)) {
    if (!isObject(entry) || typeof entry.name !== 'string')
      throw new Error(`${dir}: images entries need a name`);
    only(`${dir}: images[]`, entry, ['name', 'newName', 'newTag', 'digest']);
    const containers = resources.flatMap((r) => {
      const pod = podSpecOf(r) ?? {};
      return [...lists(pod.containers), ...lists(pod.initContainers)].filter(isObject);
    });
    for (const c of containers.filter((x) => typeof x.image === 'string')) {
      const img = parseImage(String(c.image));
      if (img.name !== entry.name) continue;
      const name = typeof entry.newName === 'string' ? entry.newName : img.name;
      const tag = entry.newTag !== undefined && entry.newTag !== null ? String(entry.newTag) : img.tag;
      const digest = typeof entry.digest === 'string' ? entry.digest : entry.newTag ? undefined : img.digest;
      c.image =
        typeof entry.digest === 'string'
          ? `${name}@${digest}`
          : `${name}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
    }
  }
}

function build(dir: string): K8sObject[] {
  const k = readKustomization(dir);
  let resources = [...loadResources(dir, k.resources), ...generateConfigMaps(dir, k.configMapGenerator)];
  const ids = resources.map(objectId);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice) throw new Error(`${dir}: resource ${twice} is defined twice`);
  resources = applyPatches(dir, resources, k.patches);
  if (k.namespace !== undefined) {
    for (const r of resources.filter((x) => !CLUSTER_SCOPED_KINDS.has(x.kind)))
      r.metadata.namespace = String(k.namespace);
  }
  applyLabels(dir, resources, k.labels);
  applyImages(dir, resources, k.images);
  return resources;
}

/** Render the kustomization in `dir` like `kustomize build dir`. */
export function renderKustomization(dir: string): K8sObject[] {
  const resources = build(dir);
  applyNameHashes(resources);
  return resources;
}
