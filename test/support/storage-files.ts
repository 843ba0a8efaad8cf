import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageDriver, StorageNotFoundError } from '../../src/platform/storage/storage.types';

/** Whether the driver holds `key`, asked the way the service does: `get`, which rejects when absent. */
export async function isStored(driver: StorageDriver, key: string): Promise<boolean> {
  try {
    (await driver.get(key)).body.destroy();
    return true;
  } catch (err) {
    if (err instanceof StorageNotFoundError) return false;
    throw err;
  }
}

/** Every file under a storage dir (recursively): used to prove failed uploads leave no bytes behind. */
export async function listStoredFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => !e.isDirectory()).map((e) => join(e.parentPath, e.name));
}
