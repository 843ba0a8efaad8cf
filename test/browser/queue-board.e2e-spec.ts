import type { Page } from 'puppeteer-core';
import { fixedInflight, useApp } from '../support/app-fixture';
import { chatLine, toJsonl, uploadBatchFile, waitForBatch } from '../support/batch-helpers';
import { useBrowser } from '../support/browser';
import { until } from '../support/harness';

const ADMIN = { username: 'ops', password: 'board-pass-7d1e' };
const LINES = 60;

/** The percentage the job's progress ring shows (Bull Board draws it from the job's `progress` field). */
const shownProgress = (page: Page): Promise<number> =>
  page.$eval('[role=progressbar]', (el) => Number(el.getAttribute('aria-valuenow')));

describe('the queue board at /admin/queues in a real browser', () => {
  // One line at a time, each a second long (20 tokens at 50 ms a step): the batch runs for about a
  // minute, long enough to watch, and is cancelled once seen.
  const { app, a } = useApp({
    simulator: { stepBaseMs: 50, stepPerSeqMs: 0 },
    env: { ...fixedInflight(1), ADMIN_USER: ADMIN.username, ADMIN_PASSWORD: ADMIN.password },
  });
  const browser = useBrowser();

  it('loads with Basic auth without a console error or failed request, and lists both queues', async () => {
    const { page, problems } = await browser.open();
    await page.authenticate(ADMIN);
    await page.goto(`${app.adminUrl}/admin/queues`, { waitUntil: 'networkidle0' });
    const queues = await page.$$eval('nav a[title]', (links) => links.map((l) => l.getAttribute('title')));
    expect(queues.sort()).toEqual(['batches', 'webhooks']);
    expect(await page.title()).toBe('vLLM Batch queues');
    expect(problems).toEqual([]);
  });

  it("shows a running batch's progress on its job, advancing, with the worker's counts", async () => {
    const input = Array.from({ length: LINES }, (_, i) =>
      chatLine(`行-${i}`, `夜のバッチ ${i} 🌙`, { max_tokens: 20 }),
    );
    const batch = await a.batches.create({
      input_file_id: await uploadBatchFile(a, toJsonl(input)),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });

    const { page, problems } = await browser.open();
    await page.authenticate(ADMIN);
    // The job's own page: the worker's job id is the batch id.
    await page.goto(`${app.adminUrl}/admin/queues/queue/batches/${batch.id}`, { waitUntil: 'networkidle0' });

    // The ring appears once some lines are done, and the page keeps polling: it moves on its own.
    await page.waitForSelector('[role=progressbar][aria-valuenow]', { timeout: 60_000 });
    const first = await shownProgress(page);
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(100);
    await until(async () => (await shownProgress(page)) > first, 60_000, 'the progress ring to move', 200);
    expect(await shownProgress(page)).toBeLessThan(100);

    // The Progress tab shows what the worker reported: counts and the batch's status.
    const tab = await page.waitForSelector('::-p-aria(Progress[role="tab"])');
    const tabId = await tab!.evaluate((el) => el.id);
    await tab!.click();
    const panel = await page.waitForSelector(`[role=tabpanel][aria-labelledby="${tabId}"] [role=tree]`);
    const text = (await panel!.evaluate((el) => el.textContent ?? '')).replace(/\s+/g, '');
    expect(text).toContain(`total:${LINES}`);
    expect(text).toContain('status:"in_progress"');
    expect(text).toMatch(/done:\d+/);
    expect(text).toContain('failed:0');

    expect(problems).toEqual([]);

    await a.batches.cancel(batch.id);
    await waitForBatch(a, batch.id, ['cancelled']);
  }, 180_000);
});
