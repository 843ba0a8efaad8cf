import { StorageDriver } from '../../platform/storage/storage.types';

export interface UploadLimits {
  /** Hard cap for any upload. */
  maxUploadBytes: number;
  /** Lower cap that applies once the purpose is known to be `batch`. */
  maxBatchFileBytes: number;
}

/** An upload whose bytes are stored: its file name, size and the small text fields sent with it. */
export interface ParsedUpload {
  filename: string;
  bytes: number;
  fields: Record<string, string>;
}

/**
 * Streams an upload (the HTTP side's multipart parser) into `storage` under `storageKey`, within
 * `limits`; on failure it leaves nothing stored.
 */
export type UploadReceiver = (
  storage: StorageDriver,
  storageKey: string,
  limits: UploadLimits,
) => Promise<ParsedUpload>;
