/**
 * Headless Chromium for the pages operators open (Swagger UI, the queue board), driven by
 * puppeteer-core. The browser is Debian's `chromium` package (.ci/run installs it), not one
 * puppeteer downloads: CHROMIUM_PATH names another binary.
 *
 *   describe('the board', () => {
 *     const browser = useBrowser();
 *     it('loads', async () => {
 *       const { page, problems } = await browser.open();
 *       await page.goto(url);
 *       expect(problems).toEqual([]);
 *     });
 *   });
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * A closed network, running as root in CI: no sandbox (it needs user namespaces root does not get),
 * no GPU, and none of the background traffic (updates, sync, QUIC probes) that would only time out.
 */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface HeadlessBrowser {
  browser: Browser;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** A fresh browser with a throwaway profile (no cookies, cache or saved credentials from a previous run). */
export async function launchBrowser(): Promise<HeadlessBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'vllm-batch-chromium-'));
  let browser: Browser;
  try {
    browser = await puppeteer.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...FLAGS, `--user-data-dir=${profile}`],
      protocolTimeout: 60_000,
    });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw new Error(
      `cannot start Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH): ${(err as Error).message}`,
    );
  }
  return {
    browser,
    async close() {
      await browser.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export interface WatchedPage {
  page: Page;
  /**
   * What an operator would see go wrong, as it happens: console errors (a resource refused by a
   * policy, a script failing), uncaught exceptions and requests that never got an answer.
   */
  problems: string[];
}

/** A new tab whose problems are recorded from the first request on. */
export async function openWatchedPage(browser: Browser): Promise<WatchedPage> {
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()} (${msg.location().url ?? '?'})`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught: ${(err as Error).message ?? String(err)}`));
  page.on('requestfailed', (req) =>
    problems.push(`request failed: ${req.method()} ${req.url()} (${req.failure()?.errorText ?? '?'})`),
  );
  return { page, problems };
}

export interface BrowserFixture {
  /** A watched tab in the describe block's browser. */
  open(): Promise<WatchedPage>;
}

/** One browser per describe block, started in beforeAll and closed in afterAll. */
export function useBrowser(): BrowserFixture {
  let started: HeadlessBrowser | null = null;
  beforeAll(async () => {
    started = await launchBrowser();
  });
  afterAll(async () => {
    await started?.close();
    started = null;
  });
  return {
    open() {
      if (!started) throw new Error('the browser is used before the beforeAll that starts it ran');
      return openWatchedPage(started.browser);
    },
  };
}
