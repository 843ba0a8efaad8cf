import { useApp } from '../support/app-fixture';
import { chatLine, toJsonl, uploadBatchFile } from '../support/batch-helpers';
import { useBrowser } from '../support/browser';
import { TENANT_A } from '../support/harness';
import { authorize, listOperations, tryItOut } from '../support/swagger-ui';

const FILE_NAME = 'données-夜間-📄.jsonl';
const METADATA = { 説明: 'ナイトリー評価 🌙', équipe: 'Ωmega' };

describe('Swagger UI at /docs in a real browser', () => {
  const { app, a } = useApp({ simulator: {} });
  const browser = useBrowser();

  it('loads without a console error or failed request, lists the Files and Batches operations, and "Try it out" answers with the Authorize dialog\'s key', async () => {
    const fileId = await uploadBatchFile(a, toJsonl([chatLine('行-1', 'こんにちは')]), FILE_NAME);
    const batch = await a.batches.create({
      input_file_id: fileId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: METADATA,
    });

    const { page, problems } = await browser.open();
    await page.goto(`${app.url}/docs`, { waitUntil: 'networkidle0' });

    const operations = await listOperations(page);
    expect(operations).toEqual(
      expect.arrayContaining([
        { tag: 'Files', method: 'POST', path: '/v1/files' },
        { tag: 'Files', method: 'GET', path: '/v1/files' },
        { tag: 'Files', method: 'GET', path: '/v1/files/{file_id}' },
        { tag: 'Files', method: 'DELETE', path: '/v1/files/{file_id}' },
        { tag: 'Files', method: 'GET', path: '/v1/files/{file_id}/content' },
        { tag: 'Batches', method: 'POST', path: '/v1/batches' },
        { tag: 'Batches', method: 'GET', path: '/v1/batches' },
        { tag: 'Batches', method: 'GET', path: '/v1/batches/{batch_id}' },
        { tag: 'Batches', method: 'POST', path: '/v1/batches/{batch_id}/cancel' },
      ]),
    );

    await authorize(page, { 'input#auth-bearer-value': TENANT_A.key });

    const files = await tryItOut(page, 'GET', '/v1/files');
    expect(files.status).toBe(200);
    expect(JSON.parse(files.body)).toMatchObject({
      object: 'list',
      // The batch may have written its output file by now: that one is listed too.
      data: expect.arrayContaining([
        expect.objectContaining({ id: fileId, filename: FILE_NAME, purpose: 'batch' }),
      ]),
    });

    const retrieved = await tryItOut(page, 'GET', '/v1/batches/{batch_id}', {
      params: { batch_id: batch.id },
    });
    expect(retrieved.status).toBe(200);
    expect(JSON.parse(retrieved.body)).toMatchObject({ id: batch.id, object: 'batch', metadata: METADATA });

    expect(problems).toEqual([]);
  });
});
