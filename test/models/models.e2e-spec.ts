import OpenAI from 'openai';
import { ModelCatalogueRepository } from '../../src/domain/models/model-catalogue.repository';
import { Json } from '../support/batch-helpers';
import { useApp } from '../support/app-fixture';
import { authHeader, sdkClient, TENANT_A } from '../support/harness';

const E1 = 'http://10.0.0.5:8000/v1';
const E2 = 'http://10.0.0.6:8000/v1';
const GONE = 'http://10.0.0.7:8000/v1';
const LLAMA = 'meta-llama/Llama-3.1-8B-Instruct';
const QWEN = 'Qwen/Qwen2.5-7B-Instruct';
const MULTIBYTE = 'モデル/中文-7B-Ünïcødé-🚀';
const STALE = 'old-org/retired-model';

/**
 * GET /v1/models and /v1/models/{model} through the official SDK, answered from the catalogue the
 * workers keep in PostgreSQL. The process is an API process only: it has no upstream to ask, and
 * the catalogue is seeded as workers would write it.
 */
describe('Models API (end to end, official SDK + HTTP)', () => {
  const { app, a, b } = useApp({ env: { APP_ROLE: 'api', THROTTLE_READ_LIMIT: '5000' } });
  let catalogue: ModelCatalogueRepository;
  const firstSeen = new Date(Date.now() - 3_600_000);

  beforeAll(async () => {
    catalogue = app.app.get(ModelCatalogueRepository, { strict: false });
    await catalogue.recordServed(
      E1,
      [
        { id: LLAMA, max_model_len: 8192 },
        { id: QWEN, owned_by: 'qwen-team' },
      ],
      firstSeen,
    );
    await catalogue.recordServed(E1, [
      { id: LLAMA, max_model_len: 8192 },
      { id: QWEN, owned_by: 'qwen-team' },
    ]);
    await catalogue.recordServed(E2, [
      { id: LLAMA, max_model_len: 8192 },
      { id: MULTIBYTE, max_model_len: 2048 },
    ]);
    // Served ten minutes ago, not since (MODELS_FRESH_SECONDS is 120 by default).
    await catalogue.recordServed(GONE, [{ id: STALE }], new Date(Date.now() - 600_000));
  });

  const get = (path: string, headers: Record<string, string> = authHeader(TENANT_A.key)) =>
    fetch(`${app.url}${path}`, { headers });

  it('lists the models served now, in OpenAI’s shape, and not those no endpoint served lately', async () => {
    const page = await a.models.list();
    expect(page.data.map((m) => m.id)).toEqual([LLAMA, QWEN, MULTIBYTE].sort());
    const byId = Object.fromEntries(page.data.map((m) => [m.id, m as unknown as Json]));
    expect(byId[LLAMA]).toEqual({
      id: LLAMA,
      object: 'model',
      created: Math.floor(firstSeen.getTime() / 1000),
      owned_by: 'vllm',
      max_model_len: 8192,
    });
    // No context length reported: the field is left out rather than null.
    expect(byId[QWEN]).toEqual({
      id: QWEN,
      object: 'model',
      created: expect.any(Number),
      owned_by: 'qwen-team',
    });
    expect(byId[MULTIBYTE]).toMatchObject({ id: MULTIBYTE, object: 'model', max_model_len: 2048 });

    // The raw body is OpenAI's ListModelsResponse: no pagination fields.
    const res = await get('/v1/models');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(Object.keys(body).sort()).toEqual(['data', 'object']);
    expect(body.object).toBe('list');
    expect(res.headers.get('x-ratelimit-limit')).toBe('5000');

    // Every tenant sees the same models.
    const seen: string[] = [];
    for await (const m of b.models.list()) seen.push(m.id);
    expect(seen.sort()).toEqual([LLAMA, QWEN, MULTIBYTE].sort());
  });

  it('retrieves a model by id, with a slash (encoded by the SDK or sent raw) and multi-byte', async () => {
    expect(await a.models.retrieve(QWEN)).toMatchObject({ id: QWEN, object: 'model', owned_by: 'qwen-team' });
    expect(await a.models.retrieve(LLAMA)).toEqual({
      id: LLAMA,
      object: 'model',
      created: Math.floor(firstSeen.getTime() / 1000),
      owned_by: 'vllm',
      max_model_len: 8192,
    });
    expect(await a.models.retrieve(MULTIBYTE)).toMatchObject({ id: MULTIBYTE, max_model_len: 2048 });

    // curl-style: the slash unencoded, the rest percent-encoded as any client does.
    const raw = await get(`/v1/models/${LLAMA}`);
    expect(raw.status).toBe(200);
    expect(((await raw.json()) as Json).id).toBe(LLAMA);
    const rawMultibyte = await get(`/v1/models/${MULTIBYTE.split('/').map(encodeURIComponent).join('/')}`);
    expect(((await rawMultibyte.json()) as Json).id).toBe(MULTIBYTE);
    expect((await get(`/v1/models/${encodeURIComponent(LLAMA)}`)).status).toBe(200);
    expect(raw.headers.get('x-ratelimit-limit')).toBe('5000');
  });

  it('answers 404 model_not_found in OpenAI’s envelope for an unknown model or one not served now', async () => {
    for (const id of ['no-such-model', 'no-org/no-such-model', STALE, 'meta-llama', `${LLAMA}/extra`]) {
      const err = await a.models.retrieve(id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.NotFoundError);
      expect({ id, code: (err as InstanceType<typeof OpenAI.NotFoundError>).code }).toEqual({
        id,
        code: 'model_not_found',
      });
    }
    // A NUL no stored id can hold, too; a malformed escape is the client's 400.
    expect((await get('/v1/models/a%00b')).status).toBe(404);
    expect((await get('/v1/models/%E0%A4%A')).status).toBe(400);
    const res = await get(`/v1/models/${STALE}`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: {
        message: `The model '${STALE}' does not exist or is not served now.`,
        type: 'invalid_request_error',
        param: 'model',
        code: 'model_not_found',
      },
    });
  });

  it('follows the catalogue: a model no endpoint lists any more leaves the list', async () => {
    await catalogue.recordServed(E2, [{ id: LLAMA, max_model_len: 8192 }]);
    expect((await a.models.list()).data.map((m) => m.id)).toEqual([LLAMA, QWEN].sort());
    await expect(a.models.retrieve(MULTIBYTE)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await catalogue.endpointGone(E1);
    expect((await a.models.list()).data.map((m) => m.id)).toEqual([LLAMA]);
    // Back on an endpoint: listed again, with the time it was first seen.
    await catalogue.recordServed(E2, [{ id: LLAMA, max_model_len: 8192 }, { id: MULTIBYTE }]);
    expect((await a.models.retrieve(MULTIBYTE)).created).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });

  it('requires an API key, like every /v1 route', async () => {
    for (const path of ['/v1/models', `/v1/models/${LLAMA}`, `/v1/models/${encodeURIComponent(LLAMA)}`]) {
      const res = await get(path, {});
      expect({ path, status: res.status }).toEqual({ path, status: 401 });
      expect(((await res.json()) as Json).error).toMatchObject({ code: 'invalid_api_key' });
    }
    const stranger = sdkClient(app.url, 'sk-not-a-known-key-0000');
    await expect(stranger.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expect(stranger.models.retrieve(LLAMA)).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('documents both routes in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${app.url}/docs-json`)).json()) as Json;
    const paths = Object.keys(doc.paths).filter((p) => p.startsWith('/v1/models'));
    expect(paths.sort()).toEqual(['/v1/models', '/v1/models/{model}']);
    expect(doc.paths['/v1/models/{model}'].get.responses['404']).toBeDefined();
  });
});
