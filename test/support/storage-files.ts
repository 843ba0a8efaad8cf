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
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else out.push(join(d, e.name));
    }
  };
  await walk(dir);
  return out;
}
