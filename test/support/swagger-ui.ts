/**
 * Driving a Swagger UI page the way a person does: the Authorize dialog, then "Try it out" on an
 * operation found by method and path (as the page shows it), its fields filled by typing, Execute,
 * and the status and body the page then shows.
 */
import type { Page } from 'puppeteer-core';

export interface Operation {
  method: string;
  path: string;
  tag: string;
}

/** Every operation on the page, grouped as the page groups them (each opblock sits under its tag's section). */
export async function listOperations(page: Page): Promise<Operation[]> {
  await page.waitForSelector('.opblock');
  return page.$$eval('.opblock-tag-section', (sections) =>
    sections.flatMap((section) => {
      const tag = section.querySelector('.opblock-tag')?.getAttribute('data-tag') ?? '';
      return [...section.querySelectorAll('.opblock')].map((op) => ({
        method: op.querySelector('.opblock-summary-method')?.textContent ?? '',
        path: op.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? '',
        tag,
      }));
    }),
  );
}

/**
 * Opens the Authorize dialog, types each value into the field the selector names (inside the
 * dialog), applies them and closes the dialog.
 */
export async function authorize(page: Page, fields: Record<string, string>): Promise<void> {
  await clickWhenShown(page, '.auth-wrapper .authorize');
  for (const [selector, value] of Object.entries(fields)) {
    await (await page.waitForSelector(`.modal-ux ${selector}`))!.type(value);
  }
  await clickWhenShown(page, '.modal-ux .auth-btn-wrapper button[type=submit]');
  // Once applied, the dialog offers to log out instead.
  await page.waitForSelector('.modal-ux button[aria-label="Remove authorization"]');
  await clickWhenShown(page, '.modal-ux .btn-done');
  await page.waitForSelector('.modal-ux', { hidden: true });
}

export interface TryItOut {
  /** Path and query parameters by name, typed into their fields (replacing what is there). */
  params?: Record<string, string>;
  /** The request body, typed into the body editor instead of the example. */
  body?: string;
}

export interface LiveResponse {
  status: number;
  /** The response body as the page shows it. */
  body: string;
}

/** "Try it out" on the operation, Execute, and what the page shows as the server's response. */
export async function tryItOut(
  page: Page,
  method: string,
  path: string,
  input: TryItOut = {},
): Promise<LiveResponse> {
  const op = await operationSelector(page, method, path);
  if (!(await page.$(`${op}.is-open`))) await clickWhenShown(page, `${op} .opblock-summary-control`);
  // The block renders its body after opening; once in "try it out" mode its button reads Cancel.
  const tryOut = await page.waitForSelector(`${op} .try-out__btn`);
  if (!(await tryOut!.evaluate((el) => el.classList.contains('cancel')))) await tryOut!.click();
  await page.waitForSelector(`${op} .execute`);
  for (const [name, value] of Object.entries(input.params ?? {})) {
    await replaceText(page, `${op} tr[data-param-name="${name}"] input`, value);
  }
  if (input.body !== undefined) await replaceText(page, `${op} textarea.body-param__text`, input.body);
  // A previous answer is cleared first, so the one read below is this request's.
  if (await page.$(`${op} .btn-clear`)) {
    await clickWhenShown(page, `${op} .btn-clear`);
    await page.waitForSelector(`${op} .live-responses-table`, { hidden: true });
  }
  await clickWhenShown(page, `${op} .execute`);
  const status = await page.waitForSelector(`${op} .live-responses-table tr.response .response-col_status`);
  const body = await page.$(`${op} .live-responses-table tr.response .highlight-code pre`);
  return {
    status: Number(await status!.evaluate((el) => el.textContent?.trim())),
    body: body ? await body.evaluate((el) => el.textContent ?? '') : '',
  };
}

/** The id selector of the operation block showing this method and path. */
async function operationSelector(page: Page, method: string, path: string): Promise<string> {
  await page.waitForSelector('.opblock');
  const id = await page.$$eval(
    '.opblock',
    (ops, m, p) =>
      ops.find(
        (op) =>
          op.querySelector('.opblock-summary-method')?.textContent === m &&
          op.querySelector('.opblock-summary-path')?.getAttribute('data-path') === p,
      )?.id,
    method.toUpperCase(),
    path,
  );
  if (!id) throw new Error(`Swagger UI shows no ${method} ${path}`);
  return `[id="${id}"]`;
}

/** Selects what the field holds and types over it, as a person would (React sees every keystroke). */
async function replaceText(page: Page, selector: string, text: string): Promise<void> {
  await clickWhenShown(page, selector);
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyA');
  await page.keyboard.up('Control');
  await page.keyboard.press('Backspace');
  await page.type(selector, text);
}

/** Clicks the element once the page has rendered it (a React page renders after the event that asks for it). */
async function clickWhenShown(page: Page, selector: string): Promise<void> {
  await (await page.waitForSelector(selector, { visible: true }))!.click();
}
