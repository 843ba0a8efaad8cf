/**
 * The test renderer itself: kustomize semantics for the features k8s/ uses,
 * and a refusal for the ones it does not implement.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  configMapHash,
  JsonObject,
  K8sObject,
  parseImage,
  renderKustomization,
  strategicMerge,
} from './kustomize';

const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: example/web
          ports: [{name: http, containerPort: 80}]
          env:
            - {name: A, value: "1"}
            - {name: B, value: "2"}
          volumeMounts:
            - {name: data, mountPath: /data}
            - {name: tmp, mountPath: /tmp}
        - name: sidecar
          image: busybox:1.36
      volumes:
        - {name: data, emptyDir: {}}
        - {name: tmp, emptyDir: {}}
`;

let dir: string;

function write(rel: string, text: string): void {
  const p = path.join(dir, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kustomize-spec-'));
  write('base/deployment.yaml', deployment);
  write(
    'base/more.yaml',
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {X: "1", Y: "2"}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n',
  );
  write('base/kustomization.yaml', 'resources: [deployment.yaml, more.yaml]\n');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function overlay(kustomization: string, files: Record<string, string> = {}): JsonObject[] {
  for (const [f, t] of Object.entries(files)) write(`overlay/${f}`, t);
  write('overlay/kustomization.yaml', kustomization);
  return renderKustomization(path.join(dir, 'overlay'));
}

const byKind = (objs: JsonObject[], kind: string) => objs.find((o) => o.kind === kind) as JsonObject;
const podSpec = (d: JsonObject) => ((d.spec as JsonObject).template as JsonObject).spec as JsonObject;

describe('renderKustomization', () => {
  it('loads directories and multi-document files, sets the namespace on namespaced objects', () => {
    const objs = overlay('resources: [../base]\nnamespace: team\n');
    expect(objs.map((o) => o.kind)).toEqual(['Deployment', 'ConfigMap', 'Namespace']);
    expect((byKind(objs, 'Deployment').metadata as JsonObject).namespace).toBe('team');
    expect((byKind(objs, 'Namespace').metadata as JsonObject).namespace).toBeUndefined();
  });

  it('adds labels to metadata and templates but never to selectors', () => {
    const objs = overlay(
      'resources: [../base]\nlabels:\n  - pairs: {env: dev}\n    includeTemplates: true\n',
    );
    const d = byKind(objs, 'Deployment');
    const spec = d.spec as JsonObject;
    expect((d.metadata as JsonObject).labels).toEqual({ app: 'web', env: 'dev' });
    expect(((spec.template as JsonObject).metadata as JsonObject).labels).toEqual({ app: 'web', env: 'dev' });
    expect(spec.selector).toEqual({ matchLabels: { app: 'web' } });
  });

  it('rewrites images by name', () => {
    const objs = overlay(
      'resources: [../base]\nimages:\n  - {name: example/web, newName: reg.io/web, newTag: "1.2"}\n  - {name: busybox, newTag: "1.37"}\n',
    );
    const cs = podSpec(byKind(objs, 'Deployment')).containers as JsonObject[];
    expect(cs.map((c) => c.image)).toEqual(['reg.io/web:1.2', 'busybox:1.37']);
  });

  it('applies strategic merge patches: lists by merge key, null deletes, $patch: delete', () => {
    const patch = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {tier: front}}
spec:
  template:
    spec:
      containers:
        - name: web
          env:
            - {name: B, value: "20"}
            - {name: C, value: "3"}
          volumeMounts:
            - {mountPath: /data, $patch: delete}
        - name: sidecar
          $patch: delete
      volumes:
        - {name: data, $patch: delete}
`;
    const objs = overlay(
      'resources: [../base]\npatches:\n  - path: p.yaml\n  - patch: |-\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: cfg}\n      data: {X: null, Z: "3"}\n  - patch: |-\n      apiVersion: v1\n      kind: Namespace\n      metadata: {name: ns}\n      $patch: delete\n',
      { 'p.yaml': patch },
    );
    expect(objs.map((o) => o.kind)).toEqual(['Deployment', 'ConfigMap']);
    const d = byKind(objs, 'Deployment');
    expect((d.metadata as JsonObject).labels).toEqual({ app: 'web', tier: 'front' });
    const spec = podSpec(d);
    const [web, ...rest] = spec.containers as JsonObject[];
    expect(rest).toEqual([]);
    expect(web.env).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: '20' },
      { name: 'C', value: '3' },
    ]);
    expect(web.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(spec.volumes).toEqual([{ name: 'tmp', emptyDir: {} }]);
    expect(byKind(objs, 'ConfigMap').data).toEqual({ Y: '2', Z: '3' });
  });

  it.each([
    ['an unsupported field', 'resources: [../base]\ncommonLabels: {a: b}\n', /commonLabels/],
    [
      'selector labels',
      'resources: [../base]\nlabels:\n  - pairs: {a: b}\n    includeSelectors: true\n',
      /includeSelectors/,
    ],
    [
      'a patch without target',
      'resources: [../base]\npatches:\n  - patch: |-\n      kind: Service\n      apiVersion: v1\n      metadata: {name: web}\n',
      /matched 0/,
    ],
    [
      'a JSON 6902 patch',
      'resources: [../base]\npatches:\n  - target: {kind: Deployment, name: web}\n    patch: |-\n      - op: remove\n        path: /spec\n',
      /6902/,
    ],
    ['a duplicate resource', 'resources: [../base, ../base/deployment.yaml]\n', /defined twice/],
    ['a missing resource', 'resources: [../base, nope.yaml]\n', /does not exist/],
  ])('refuses %s', (_label, kustomization, error) => {
    expect(() => overlay(kustomization)).toThrow(error);
  });
});

describe('configMapGenerator', () => {
  const generated = `
resources: [../base]
namespace: team
configMapGenerator:
  - name: settings
    envs: [settings.env]
    literals: [EXTRA=yes]
    options:
      labels: {role: config}
      annotations: {note: kept}
patches:
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web}
      spec:
        template:
          spec:
            containers:
              - name: web
                envFrom: [{configMapRef: {name: settings}}]
                env: [{name: ONE, valueFrom: {configMapKeyRef: {name: settings, key: LEVEL}}}]
            volumes:
              - {name: conf, configMap: {name: settings}}
              - {name: other, configMap: {name: cfg}}
`;
  const settings = '# a comment\n\nLEVEL=info\n  PORT=80\n';
  const refs = (objs: JsonObject[]) => {
    const spec = podSpec(byKind(objs, 'Deployment'));
    const web = (spec.containers as JsonObject[])[0];
    return [
      ((web.envFrom as JsonObject[])[0].configMapRef as JsonObject).name,
      (((web.env as JsonObject[]).at(-1)!.valueFrom as JsonObject).configMapKeyRef as JsonObject).name,
      ...(spec.volumes as JsonObject[])
        .filter((v) => v.configMap)
        .map((v) => (v.configMap as JsonObject).name),
    ];
  };
  const settingsMap = (objs: JsonObject[]) =>
    objs.find(
      (o) => o.kind === 'ConfigMap' && String((o.metadata as JsonObject).name).startsWith('settings-'),
    )!;

  it('hashes the content into the name and follows every reference in pod specs', () => {
    const objs = overlay(generated, { 'settings.env': settings });
    const cm = settingsMap(objs);
    expect(cm.data).toEqual({ LEVEL: 'info', PORT: '80', EXTRA: 'yes' });
    expect(cm.metadata).toEqual({
      name: expect.stringMatching(/^settings-[a-z0-9]{10}$/),
      namespace: 'team',
      labels: { role: 'config' },
      annotations: { note: 'kept' },
    });
    const name = (cm.metadata as JsonObject).name;
    // The plain ConfigMap `cfg` of the base is not generated: neither it nor its reference changes.
    expect(refs(objs)).toEqual([name, name, name, 'cfg']);
  });

  it('changes the name when a value changes, also through a patch of the plain name', () => {
    const before = (settingsMap(overlay(generated, { 'settings.env': settings })).metadata as JsonObject)
      .name;
    const edited = overlay(generated, { 'settings.env': settings.replace('info', 'debug') });
    const patched = overlay(
      generated +
        '  - patch: |-\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: settings}\n      data: {LEVEL: debug}\n',
      { 'settings.env': settings },
    );
    const after = (settingsMap(edited).metadata as JsonObject).name;
    expect(after).not.toBe(before);
    // The same content gives the same name, however it came about.
    expect((settingsMap(patched).metadata as JsonObject).name).toBe(after);
    expect(refs(edited).slice(0, 3)).toEqual([after, after, after]);
  });

  it('computes the hash kubectl and kustomize compute', () => {
    // Expected values from kubectl's hash tests (k8s.io/kubectl/pkg/util/hash).
    const cm = (data: Record<string, string>): K8sObject =>
      ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '' }, data }) as K8sObject;
    expect(configMapHash(cm({}))).toBe('42745tchd9');
    expect(configMapHash(cm({ one: '' }))).toBe('9g67k2htb6');
    expect(configMapHash(cm({ two: '2', one: '', three: '3' }))).toBe('f5h7t85m9b');
  });

  it.each([
    ['a quoted value', 'LEVEL="info"\n', /quoted/],
    ['a line without =', 'LEVEL\n', /KEY=VALUE/],
    ['a duplicate key', 'A=1\nA=2\n', /twice/],
  ])('refuses %s', (_label, env, error) => {
    expect(() => overlay(generated, { 'settings.env': env })).toThrow(error);
  });

  it('refuses generator options it does not implement', () => {
    expect(() =>
      overlay('resources: [../base]\nconfigMapGenerator:\n  - name: x\n    behavior: merge\n'),
    ).toThrow(/behavior/);
  });
});

describe('strategicMerge', () => {
  it('merges Service ports by port and replaces lists without a merge key', () => {
    const merged = strategicMerge(
      { ports: [{ port: 80, name: 'http' }], args: ['a', 'b'] },
      { ports: [{ port: 80, targetPort: 8080 }, { port: 443 }], args: ['c'] },
    );
    expect(merged).toEqual({
      ports: [{ port: 80, name: 'http', targetPort: 8080 }, { port: 443 }],
      args: ['c'],
    });
  });

  it('refuses to delete what is not there', () => {
    expect(() =>
      strategicMerge({ volumes: [{ name: 'a' }] }, { volumes: [{ name: 'b', $patch: 'delete' }] }),
    ).toThrow(/nothing to delete/);
  });
});

describe('parseImage', () => {
  it.each([
    ['node:22', { name: 'node', tag: '22' }],
    ['reg.io:5000/a/b', { name: 'reg.io:5000/a/b' }],
    ['reg.io:5000/a/b:1@sha256:abc', { name: 'reg.io:5000/a/b', tag: '1', digest: 'sha256:abc' }],
  ])('%s', (ref, want) => {
    expect(parseImage(ref)).toEqual({ tag: undefined, digest: undefined, ...want });
  });
});
