import { useApp } from '../support/app-fixture';
import { useBrowser } from '../support/browser';
import { TENANT_A } from '../support/harness';
import { authorize, listOperations, tryItOut } from '../support/swagger-ui';

/** Opens the page (the docs sit behind the admin gate, like the board). */
const PAGE_ADMIN = { username: 'ops', password: 'page-pass-51c0' };
/** Typed into Swagger's Authorize dialog: another admin, so the audit trail shows whose call it was. */
const SWAGGER_ADMIN = { username: 'swagger-admin', password: 'dialog-pass-8e2d' };
const TENANT = 'browser-tenant';
const KEY_NAME = '夜間バッチ用キー 🔑';

describe("the admin API's Swagger UI at /admin/docs in a real browser", () => {
  const { app } = useApp({
    env: {
      ADMIN_USER: PAGE_ADMIN.username,
      ADMIN_PASSWORD: PAGE_ADMIN.password,
      ADMIN_USERS: `${SWAGGER_ADMIN.username}:${SWAGGER_ADMIN.password}`,
    },
  });
  const browser = useBrowser();

  it('loads without a console error or failed request, and "Try it out" with Basic auth from the Authorize dialog creates a tenant and a key and lists them', async () => {
    const { page, problems } = await browser.open();
    await page.authenticate(PAGE_ADMIN);
    const sentAuth: string[] = [];
    page.on('request', (req) => {
      if (new URL(req.url()).pathname.startsWith('/admin/api/'))
        sentAuth.push(req.headers().authorization ?? '');
    });
    await page.goto(`${app.adminUrl}/admin/docs`, { waitUntil: 'networkidle0' });

    const operations = (await listOperations(page)).filter((op) => op.tag === 'admin');
    expect(operations).toEqual(
      expect.arrayContaining([
        { tag: 'admin', method: 'POST', path: '/admin/api/tenants' },
        { tag: 'admin', method: 'GET', path: '/admin/api/tenants' },
        { tag: 'admin', method: 'POST', path: '/admin/api/keys' },
        { tag: 'admin', method: 'GET', path: '/admin/api/keys' },
        { tag: 'admin', method: 'GET', path: '/admin/api/audit' },
      ]),
    );

    await authorize(page, {
      'input[name=username]': SWAGGER_ADMIN.username,
      'input[name=password]': SWAGGER_ADMIN.password,
    });

    const created = await tryItOut(page, 'POST', '/admin/api/tenants', {
      body: JSON.stringify({ id: TENANT }),
    });
    expect(created.status).toBe(201);
    expect(JSON.parse(created.body)).toMatchObject({
      object: 'tenant',
      id: TENANT,
      disabled: false,
      source: 'database',
    });

    const tenants = await tryItOut(page, 'GET', '/admin/api/tenants');
    expect(tenants.status).toBe(200);
    expect(JSON.parse(tenants.body)).toMatchObject({
      object: 'list',
      data: expect.arrayContaining([
        expect.objectContaining({ id: TENANT, source: 'database', disabled: false }),
        expect.objectContaining({ id: TENANT_A.tenant, source: 'environment' }),
      ]),
    });

    const key = await tryItOut(page, 'POST', '/admin/api/keys', {
      body: JSON.stringify({ tenant: TENANT, name: KEY_NAME }),
    });
    expect(key.status).toBe(201);
    expect(JSON.parse(key.body)).toMatchObject({
      object: 'api_key',
      tenant: TENANT,
      name: KEY_NAME,
      key: expect.stringMatching(/^sk-/),
    });

    const keys = await tryItOut(page, 'GET', '/admin/api/keys', { params: { tenant: TENANT } });
    expect(keys.status).toBe(200);
    const listed = JSON.parse(keys.body) as { data: Record<string, unknown>[] };
    expect(listed.data).toEqual([expect.objectContaining({ tenant: TENANT, name: KEY_NAME })]);
    expect(listed.data[0]).not.toHaveProperty('key');

    // The dialog's credentials went with every call, and the audit trail names that admin.
    const dialogAuth = `Basic ${Buffer.from(`${SWAGGER_ADMIN.username}:${SWAGGER_ADMIN.password}`).toString('base64')}`;
    expect(sentAuth.length).toBeGreaterThanOrEqual(4);
    expect(new Set(sentAuth)).toEqual(new Set([dialogAuth]));
    const audit = await tryItOut(page, 'GET', '/admin/api/audit', { params: { tenant: TENANT } });
    expect(audit.status).toBe(200);
    expect((JSON.parse(audit.body) as { data: Record<string, unknown>[] }).data).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actor: SWAGGER_ADMIN.username, action: 'tenant.create' }),
        expect.objectContaining({ actor: SWAGGER_ADMIN.username, action: 'key.create' }),
      ]),
    );

    expect(problems).toEqual([]);
  });
});
