/**
 * A small kustomize renderer for the deployment tests: renders k8s/overlays/*
 * without kubectl or kustomize binaries.
 *
 * It implements exactly the features k8s/ uses, with kustomize's semantics,
 * and throws on anything else (an unknown kustomization field, a JSON 6902
 * patch, commonLabels, a remote base, ...) so that a manifest change the
 * renderer cannot follow fails the tests instead of being silently ignored:
 *
 * - resources: files (multi-document YAML) and directories (kustomizations)
 * - namespace: sets metadata.namespace on namespaced objects
 * - labels: pairs with includeSelectors: false (metadata.labels) and
 *   includeTemplates (pod template labels); includeSelectors: true refused
 * - images: name -> newName / newTag / digest on every pod container
 * - configMapGenerator: `envs` files and `literals`, `options.labels` /
 *   `options.annotations`; the object can be patched by its plain name, and
 *   only the outermost kustomization appends kustomize's content hash to the
 *   name and rewrites the references to it in pod specs (envFrom, env
 *   valueFrom, volumes), as `kustomize build` does
 * - patches: strategic merge patches from `path` or inline `patch`, matched
 *   by kind + name (or an explicit target kind/name), with the Kubernetes
 *   list merge keys (containers/volumes/env/... by name, volumeMounts by
 *   mountPath, ports by containerPort or port), `null` deleting a key and
 *   `$patch: delete` deleting a list item or a whole object.
 *
 * Transformer order follows kustomize: resources and generators, patches,
 * namespace, labels, images; name hashes last.
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

const SUPPORTED_FIELDS = new Set([
  'apiVersion',
  'kind',
  'resources',
  'configMapGenerator',
  'namespace',
  'labels',
  'images',
  'patches',
]);

const CLUSTER_SCOPED_KINDS = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'IngressClass',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
]);

/** Kinds whose pod template lives at spec.template. */
const TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

/** Strategic-merge list keys (patchMergeKey in the Kubernetes API types). */
const LIST_MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  imagePullSecrets: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
};

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** Parse a multi-document YAML text; empty documents are skipped. */
export function parseYamlDocuments(text: string, source: string): Json[] {
  const out: Json[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    }
    const value = doc.toJS() as Json;
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function readKustomization(dir: string): JsonObject {
  const names = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
  const found = names.map((n) => path.join(dir, n)).filter((p) => fs.existsSync(p));
  if (found.length !== 1) {
    throw new Error(`${dir}: expected exactly one of ${names.join(', ')}, found ${found.length}`);
  }
  const docs = parseYamlDocuments(fs.readFileSync(found[0], 'utf8'), found[0]);
  if (docs.length !== 1 || !isObject(docs[0])) throw new Error(`${found[0]}: not a single mapping`);
  const k = docs[0];
  if (k.kind !== undefined && k.kind !== 'Kustomization') {
    throw new Error(`${found[0]}: kind ${String(k.kind)} is not supported (only Kustomization)`);
  }
  for (const key of Object.keys(k)) {
    if (!SUPPORTED_FIELDS.has(key)) {
      throw new Error(
        `${found[0]}: kustomization field "${key}" is not supported by test/deploy/kustomize.ts`,
      );
    }
  }
  return k;
}

function asK8sObject(v: Json, source: string): K8sObject {
  if (!isObject(v) || typeof v.kind !== 'string' || typeof v.apiVersion !== 'string') {
    throw new Error(`${source}: a resource needs apiVersion and kind`);
  }
  const md = v.metadata;
  if (!isObject(md) || typeof md.name !== 'string' || md.name === '') {
    throw new Error(`${source}: ${v.kind} without metadata.name`);
  }
  return v as K8sObject;
}

export function objectId(o: K8sObject): string {
  return `${o.kind}/${o.metadata.namespace ?? '~'}/${o.metadata.name}`;
}

function loadResources(dir: string, entries: Json): K8sObject[] {
  if (entries === undefined || entries === null) return [];
  if (!Array.isArray(entries)) throw new Error(`${dir}: resources must be a list`);
  const out: K8sObject[] = [];
  for (const entry of entries) {
    if (typeof entry !== 'string') throw new Error(`${dir}: resource entries must be strings`);
    if (/^[a-z]+:\/\//i.test(entry) || entry.startsWith('github.com/')) {
      throw new Error(`${dir}: remote resource ${entry} is not supported`);
    }
    const p = path.resolve(dir, entry);
    if (!fs.existsSync(p)) throw new Error(`${dir}: resource ${entry} does not exist`);
    if (fs.statSync(p).isDirectory()) {
      out.push(...build(p));
    } else {
      for (const doc of parseYamlDocuments(fs.readFileSync(p, 'utf8'), p)) {
        out.push(asK8sObject(doc, p));
      }
    }
  }
  return out;
}

function assertUnique(dir: string, resources: K8sObject[]): void {
  const seen = new Set<string>();
  for (const o of resources) {
    const id = objectId(o);
    if (seen.has(id)) throw new Error(`${dir}: resource ${id} is defined twice`);
    seen.add(id);
  }
}

// ---------------------------------------------------------------------------
// configMapGenerator and name hashes

/** Internal marker on generated objects until the outermost build hashes their names. */
const NEEDS_HASH = 'internal.kustomize.test/needs-hash-suffix';

/** One `KEY=VALUE` of an env file or a literal; refuses what kustomize versions read differently. */
function keyValue(source: string, text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error(`${source}: "${text}" is not KEY=VALUE`);
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  if (!/^[A-Za-z_.-][A-Za-z0-9_.-]*$/.test(key)) throw new Error(`${source}: invalid key "${key}"`);
  if (/^["']/.test(value) || value !== value.trim()) {
    throw new Error(
      `${source}: the value of ${key} is quoted or padded (kustomize versions differ on those)`,
    );
  }
  return [key, value];
}

function readEnvFile(file: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [n, raw] of fs.readFileSync(file, 'utf8').split('\n').entries()) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    out.push(keyValue(`${file}:${n + 1}`, line));
  }
  return out;
}

function stringMap(where: string, v: Json | undefined): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new Error(`${where} must be a mapping`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw new Error(`${where}.${k} must be a string`);
    out[k] = val;
  }
  return out;
}

function generateConfigMaps(dir: string, generators: Json | undefined): K8sObject[] {
  if (generators === undefined || generators === null) return [];
  if (!Array.isArray(generators)) throw new Error(`${dir}: configMapGenerator must be a list`);
  return generators.map((g, n) => {
    const where = `${dir}: configMapGenerator[${n}]`;
    if (!isObject(g) || typeof g.name !== 'string') throw new Error(`${where} needs a name`);
    for (const key of Object.keys(g)) {
      if (!['name', 'envs', 'literals', 'options'].includes(key)) {
        throw new Error(`${where}.${key} is not supported by test/deploy/kustomize.ts`);
      }
    }
    const data: Record<string, string> = {};
    const add = ([k, v]: [string, string]) => {
      if (k in data) throw new Error(`${where}: key ${k} is defined twice`);
      data[k] = v;
    };
    for (const f of (g.envs ?? []) as Json[]) {
      if (typeof f !== 'string') throw new Error(`${where}.envs entries must be file names`);
      readEnvFile(path.resolve(dir, f)).forEach(add);
    }
    for (const l of (g.literals ?? []) as Json[]) {
      if (typeof l !== 'string') throw new Error(`${where}.literals entries must be strings`);
      add(keyValue(where, l));
    }
    const options = isObject(g.options) ? g.options : {};
    for (const key of Object.keys(options)) {
      if (key !== 'labels' && key !== 'annotations')
        throw new Error(`${where}.options.${key} is not supported`);
    }
    const labels = stringMap(`${where}.options.labels`, options.labels);
    const annotations = {
      ...stringMap(`${where}.options.annotations`, options.annotations),
      [NEEDS_HASH]: 'true',
    };
    const metadata: K8sObject['metadata'] = { name: g.name, annotations };
    if (labels) metadata.labels = labels;
    return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data };
  });
}

/** Go's json.Marshal: sorted keys (done by the caller) and HTML-safe escapes. */
function goJson(v: Json): string {
  return JSON.stringify(v).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function sortedKeys(m: Json | undefined): Json {
  if (!isObject(m)) return null;
  return Object.fromEntries(
    Object.keys(m)
      .sort()
      .map((k) => [k, m[k]]),
  );
}

/** kustomize's (and kubectl's) content hash of a ConfigMap: 10 characters, no vowels. */
export function configMapHash(cm: K8sObject): string {
  const encoded: JsonObject = { data: sortedKeys(cm.data) };
  if (isObject(cm.binaryData) && Object.keys(cm.binaryData).length > 0) {
    encoded.binaryData = sortedKeys(cm.binaryData);
  }
  if (typeof cm.immutable === 'boolean') encoded.immutable = cm.immutable;
  encoded.kind = 'ConfigMap';
  encoded.name = cm.metadata.name;
  const hex = createHash('sha256').update(goJson(encoded)).digest('hex');
  const swap: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };
  return hex.slice(0, 10).replace(/[013ae]/g, (c) => swap[c]);
}

/** Every ConfigMap name a pod spec refers to, as a settable reference. */
function configMapRefs(pod: JsonObject): JsonObject[] {
  const refs: JsonObject[] = [];
  for (const field of ['containers', 'initContainers']) {
    for (const c of (Array.isArray(pod[field]) ? pod[field] : []) as Json[]) {
      if (!isObject(c)) continue;
      for (const from of (Array.isArray(c.envFrom) ? c.envFrom : []) as Json[]) {
        if (isObject(from) && isObject(from.configMapRef)) refs.push(from.configMapRef);
      }
      for (const e of (Array.isArray(c.env) ? c.env : []) as Json[]) {
        if (isObject(e) && isObject(e.valueFrom) && isObject(e.valueFrom.configMapKeyRef))
          refs.push(e.valueFrom.configMapKeyRef);
      }
    }
  }
  for (const v of (Array.isArray(pod.volumes) ? pod.volumes : []) as Json[]) {
    if (!isObject(v)) continue;
    if (isObject(v.configMap)) refs.push(v.configMap);
    const sources = isObject(v.projected) && Array.isArray(v.projected.sources) ? v.projected.sources : [];
    for (const s of sources) if (isObject(s) && isObject(s.configMap)) refs.push(s.configMap);
  }
  return refs;
}

/** Appends the content hash to generated names and follows the references, like kustomize's last step. */
function applyNameHashes(resources: K8sObject[]): void {
  const renamed = new Map<string, string>();
  for (const r of resources) {
    const annotations = r.metadata.annotations;
    if (!annotations || !(NEEDS_HASH in annotations)) continue;
    delete annotations[NEEDS_HASH];
    if (Object.keys(annotations).length === 0) delete r.metadata.annotations;
    const hashed = `${r.metadata.name}-${configMapHash(r)}`;
    renamed.set(`${r.metadata.namespace ?? ''}/${r.metadata.name}`, hashed);
    r.metadata.name = hashed;
  }
  if (renamed.size === 0) return;
  for (const r of resources) {
    const pod = podSpecOf(r);
    if (!pod) continue;
    for (const ref of configMapRefs(pod)) {
      const to = renamed.get(`${r.metadata.namespace ?? ''}/${String(ref.name)}`);
      if (to) ref.name = to;
    }
  }
}

// ---------------------------------------------------------------------------
// Strategic merge patch

function listMergeKey(field: string, items: Json[]): string | undefined {
  if (field === 'ports') {
    // Container ports merge on containerPort, Service ports on port.
    return items.some((i) => isObject(i) && 'containerPort' in i) ? 'containerPort' : 'port';
  }
  return LIST_MERGE_KEYS[field];
}

function stripDirectives(v: Json, where: string): Json {
  if (Array.isArray(v)) return v.map((i) => stripDirectives(i, where));
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, val] of Object.entries(v)) {
    if (k.startsWith('$')) throw new Error(`${where}: directive ${k} is not supported here`);
    if (val === null) continue;
    out[k] = stripDirectives(val, where);
  }
  return out;
}

function mergeList(field: string, orig: Json | undefined, patch: Json[], where: string): Json[] {
  const replaceAll = patch.some((i) => isObject(i) && i.$patch === 'replace' && Object.keys(i).length === 1);
  const items = patch.filter((i) => !(isObject(i) && i.$patch === 'replace' && Object.keys(i).length === 1));
  const key = listMergeKey(field, [...(Array.isArray(orig) ? orig : []), ...items]);
  if (replaceAll || key === undefined || !Array.isArray(orig)) {
    for (const i of items) {
      if (isObject(i) && '$patch' in i)
        throw new Error(`${where}.${field}: $patch in a list without merge key`);
    }
    return items.map((i) => stripDirectives(i, `${where}.${field}`));
  }
  const result: Json[] = clone(orig);
  for (const item of items) {
    if (!isObject(item) || item[key] === undefined) {
      throw new Error(`${where}.${field}: patch item without merge key "${key}"`);
    }
    const idx = result.findIndex((r) => isObject(r) && r[key] === item[key]);
    const directive = item.$patch;
    if (directive === 'delete') {
      if (idx < 0) throw new Error(`${where}.${field}: nothing to delete with ${key}=${String(item[key])}`);
      result.splice(idx, 1);
    } else if (directive !== undefined) {
      throw new Error(`${where}.${field}: $patch: ${String(directive)} is not supported`);
    } else if (idx >= 0) {
      result[idx] = strategicMerge(result[idx], item, `${where}.${field}[${key}=${String(item[key])}]`);
    } else {
      result.push(stripDirectives(item, `${where}.${field}`));
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
    if (v === null) {
      delete result[k];
    } else if (Array.isArray(v)) {
      result[k] = mergeList(k, result[k], v, `${where}.${k}`);
    } else if (isObject(v)) {
      result[k] = strategicMerge(result[k], v, `${where}.${k}`);
    } else {
      result[k] = v;
    }
  }
  return result;
}

function applyPatches(dir: string, resources: K8sObject[], patches: Json): K8sObject[] {
  if (patches === undefined || patches === null) return resources;
  if (!Array.isArray(patches)) throw new Error(`${dir}: patches must be a list`);
  let current = resources;
  for (const [n, entry] of patches.entries()) {
    if (!isObject(entry)) throw new Error(`${dir}: patches[${n}] must be a mapping`);
    for (const key of Object.keys(entry)) {
      if (!['path', 'patch', 'target'].includes(key)) {
        throw new Error(`${dir}: patches[${n}].${key} is not supported`);
      }
    }
    let text: string;
    let source: string;
    if (typeof entry.path === 'string' && entry.patch === undefined) {
      source = path.resolve(dir, entry.path);
      text = fs.readFileSync(source, 'utf8');
    } else if (typeof entry.patch === 'string' && entry.path === undefined) {
      source = `${dir}: patches[${n}]`;
      text = entry.patch;
    } else {
      throw new Error(`${dir}: patches[${n}] needs exactly one of path or patch`);
    }
    let target: { kind?: string; name?: string } | undefined;
    if (entry.target !== undefined) {
      if (!isObject(entry.target)) throw new Error(`${source}: target must be a mapping`);
      for (const key of Object.keys(entry.target)) {
        if (key !== 'kind' && key !== 'name') throw new Error(`${source}: target.${key} is not supported`);
      }
      target = entry.target as { kind?: string; name?: string };
    }
    for (const doc of parseYamlDocuments(text, source)) {
      if (Array.isArray(doc)) throw new Error(`${source}: JSON 6902 patches are not supported`);
      if (!isObject(doc)) throw new Error(`${source}: a patch must be a mapping`);
      const kind = target?.kind ?? doc.kind;
      const name = target?.name ?? (isObject(doc.metadata) ? doc.metadata.name : undefined);
      if (typeof kind !== 'string' || typeof name !== 'string') {
        throw new Error(`${source}: cannot tell the patch target (kind and metadata.name)`);
      }
      const matches = current.filter((r) => r.kind === kind && r.metadata.name === name);
      if (matches.length !== 1) {
        throw new Error(`${source}: patch target ${kind}/${name} matched ${matches.length} resources`);
      }
      const [match] = matches;
      if (doc.$patch === 'delete') {
        current = current.filter((r) => r !== match);
        continue;
      }
      // A patch never renames its target.
      const body: JsonObject = clone(doc);
      if (isObject(body.metadata)) {
        const md = { ...body.metadata };
        delete md.name;
        delete md.namespace;
        body.metadata = md;
      }
      delete body.kind;
      delete body.apiVersion;
      const merged = strategicMerge(match, body, `${kind}/${name}`) as K8sObject;
      current = current.map((r) => (r === match ? merged : r));
    }
  }
  return current;
}

// ---------------------------------------------------------------------------
// namespace, labels, images

function applyNamespace(resources: K8sObject[], namespace: Json): void {
  if (namespace === undefined || namespace === null) return;
  if (typeof namespace !== 'string') throw new Error('namespace must be a string');
  for (const r of resources) {
    if (!CLUSTER_SCOPED_KINDS.has(r.kind)) r.metadata.namespace = namespace;
  }
}

function podTemplateMetadata(r: K8sObject): JsonObject | undefined {
  const spec = r.spec;
  if (!isObject(spec)) return undefined;
  if (TEMPLATE_KINDS.has(r.kind) && isObject(spec.template)) {
    if (!isObject(spec.template.metadata)) spec.template.metadata = {};
    return spec.template.metadata as JsonObject;
  }
  return undefined;
}

function addLabels(meta: JsonObject, pairs: Record<string, string>): void {
  const labels = isObject(meta.labels) ? meta.labels : {};
  meta.labels = { ...labels, ...pairs };
}

function applyLabels(dir: string, resources: K8sObject[], labels: Json): void {
  if (labels === undefined || labels === null) return;
  if (!Array.isArray(labels)) throw new Error(`${dir}: labels must be a list`);
  for (const entry of labels) {
    if (!isObject(entry) || !isObject(entry.pairs)) throw new Error(`${dir}: labels entries need pairs`);
    for (const key of Object.keys(entry)) {
      if (!['pairs', 'includeSelectors', 'includeTemplates'].includes(key)) {
        throw new Error(`${dir}: labels[].${key} is not supported`);
      }
    }
    if (entry.includeSelectors === true) {
      throw new Error(`${dir}: labels with includeSelectors: true are refused (selectors are immutable)`);
    }
    const pairs: Record<string, string> = {};
    for (const [k, v] of Object.entries(entry.pairs)) {
      if (typeof v !== 'string') throw new Error(`${dir}: label ${k} must be a string`);
      pairs[k] = v;
    }
    for (const r of resources) {
      addLabels(r.metadata, pairs);
      if (entry.includeTemplates === true) {
        const tm = podTemplateMetadata(r);
        if (tm) addLabels(tm, pairs);
      }
    }
  }
}

/** Split an image reference into name, tag and digest. */
export function parseImage(ref: string): { name: string; tag?: string; digest?: string } {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { name: rest, tag, digest };
}

/** The pod spec of a workload object, if it has one. */
export function podSpecOf(r: K8sObject): JsonObject | undefined {
  const spec = r.spec;
  if (!isObject(spec)) return undefined;
  if (r.kind === 'Pod') return spec;
  if (TEMPLATE_KINDS.has(r.kind) && isObject(spec.template) && isObject(spec.template.spec)) {
    return spec.template.spec;
  }
  if (r.kind === 'CronJob' && isObject(spec.jobTemplate)) {
    const jt = spec.jobTemplate;
    if (isObject(jt.spec) && isObject(jt.spec.template) && isObject(jt.spec.template.spec)) {
      return jt.spec.template.spec;
    }
  }
  return undefined;
}

function applyImages(dir: string, resources: K8sObject[], images: Json): void {
  if (images === undefined || images === null) return;
  if (!Array.isArray(images)) throw new Error(`${dir}: images must be a list`);
  for (const entry of images) {
    if (!isObject(entry) || typeof entry.name !== 'string')
      throw new Error(`${dir}: images entries need a name`);
    for (const key of Object.keys(entry)) {
      if (!['name', 'newName', 'newTag', 'digest'].includes(key)) {
        throw new Error(`${dir}: images[].${key} is not supported`);
      }
    }
    for (const r of resources) {
      const pod = podSpecOf(r);
      if (!pod) continue;
      for (const field of ['containers', 'initContainers']) {
        const list = pod[field];
        if (!Array.isArray(list)) continue;
        for (const c of list) {
          if (!isObject(c) || typeof c.image !== 'string') continue;
          const img = parseImage(c.image);
          if (img.name !== entry.name) continue;
          const name = typeof entry.newName === 'string' ? entry.newName : img.name;
          if (typeof entry.digest === 'string') {
            c.image = `${name}@${entry.digest}`;
          } else {
            const tag = entry.newTag !== undefined && entry.newTag !== null ? String(entry.newTag) : img.tag;
            c.image = `${name}${tag ? `:${tag}` : ''}${!entry.newTag && img.digest ? `@${img.digest}` : ''}`;
          }
        }
      }
    }
  }
}

function build(dir: string): K8sObject[] {
  const k = readKustomization(dir);
  let resources = [...loadResources(dir, k.resources), ...generateConfigMaps(dir, k.configMapGenerator)];
  assertUnique(dir, resources);
  resources = applyPatches(dir, resources, k.patches);
  applyNamespace(resources, k.namespace);
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
