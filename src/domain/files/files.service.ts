import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { ApiError } from '../../common/api-error';
import { Clock } from '../../common/clock';
import { isWellFormedId, newFileId } from '../../common/ids';
import { ListPage, parseLimit, toListPage } from '../../common/pagination';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { STORAGE, StorageDriver, StorageNotFoundError } from '../../platform/storage/storage.types';
import { FileEntity, FilePurpose, OPENAI_FILE_PURPOSES, UPLOADABLE_PURPOSES } from './file.entity';
import { expiryAt, parseExpiresAfter } from './file-expiry';
import { UploadReceiver } from './file-upload';
import { FileRepository } from './file.repository';

export const fileNotFound = (id: string): ApiError =>
  ApiError.notFound(`No such File object: ${id}`, 'file_id');

@Injectable()
export class FilesService {
  private readonly logger = new Logger('Files');

  constructor(
    private readonly files: FileRepository,
    @Inject(STORAGE) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  /** Streams an upload into storage, then records it. Nothing is recorded unless all is valid. */
  async upload(tenantId: string, receive: UploadReceiver): Promise<FileEntity> {
    const id = newFileId();
    const storageKey = `${tenantId}/${id}`;
    const upload = await receive(this.storage, storageKey, this.config.files);
    try {
      const purpose = this.parsePurpose(upload.fields.purpose);
      if (purpose === 'batch' && !upload.filename.toLowerCase().endsWith('.jsonl')) {
        throw ApiError.badRequest('Batch input files must be .jsonl files.', 'file', 'invalid_file_format');
      }
      const now = this.clock.now();
      const expiresAfter = parseExpiresAfter(
        upload.fields['expires_after[anchor]'],
        upload.fields['expires_after[seconds]'],
      );
      const entity: FileEntity = {
        id,
        tenantId,
        filename: upload.filename,
        purpose,
        bytes: upload.bytes,
        storageKey,
        status: 'processed',
        createdAt: now,
        // OpenAI expires batch input files by default; files of other purposes stay until deleted.
        expiresAt:
          expiresAfter !== null || purpose === 'batch'
            ? expiryAt(now, expiresAfter, this.config.files.defaultExpiryDays)
            : null,
      };
      await this.files.insert(entity);
      return entity;
    } catch (err) {
      await this.storage.delete(storageKey).catch(() => undefined);
      throw err;
    }
  }

  private parsePurpose(raw: string | undefined): FilePurpose {
    if (raw === undefined || raw === '') {
      throw ApiError.badRequest(
        "Missing required parameter: 'purpose'.",
        'purpose',
        'missing_required_parameter',
      );
    }
    if (!(UPLOADABLE_PURPOSES as readonly string[]).includes(raw)) {
      throw ApiError.badRequest(
        `Invalid value for 'purpose': '${raw.slice(0, 64)}'. Supported values are: ${UPLOADABLE_PURPOSES.map((p) => `'${p}'`).join(', ')}.`,
        'purpose',
        'invalid_value',
      );
    }
    return raw as FilePurpose;
  }

  async list(tenantId: string, query: Record<string, unknown>): Promise<ListPage<FileEntity>> {
    const limit = parseLimit(query.limit, 10000, 10000);
    const order = query.order === undefined ? 'desc' : String(query.order);
    if (order !== 'asc' && order !== 'desc') {
      throw ApiError.badRequest("Invalid 'order': expected 'asc' or 'desc'.", 'order', 'invalid_value');
    }
    let purpose: string | null = null;
    if (query.purpose !== undefined) {
      purpose = String(query.purpose);
      if (!OPENAI_FILE_PURPOSES.includes(purpose)) {
        throw ApiError.badRequest(
          `Invalid 'purpose': '${purpose.slice(0, 64)}'.`,
          'purpose',
          'invalid_value',
        );
      }
    }
    let after: FileEntity | null = null;
    if (query.after !== undefined && query.after !== '') {
      after = await this.find(tenantId, String(query.after)).catch(() => {
        throw ApiError.badRequest(
          `Invalid 'after': no such file '${String(query.after).slice(0, 64)}'.`,
          'after',
          'invalid_value',
        );
      });
    }
    const rows = await this.files.list(tenantId, { order, purpose, after, limit: limit + 1 });
    return toListPage(rows, limit);
  }

  /** The tenant's file, or a 404 that looks the same whether the id is unknown or someone else's. */
  async find(tenantId: string, id: string): Promise<FileEntity> {
    if (!isWellFormedId(id, 'file-')) throw fileNotFound(id.slice(0, 64));
    const file = await this.files.findForTenant(tenantId, id);
    // An expired file is gone for the client at once, even before the purge removes its bytes.
    if (!file || (file.expiresAt && file.expiresAt.getTime() <= this.clock.now().getTime()))
      throw fileNotFound(id);
    return file;
  }

  /**
   * The file's bytes and their stored size. The size comes from storage, not the row: a
   * Content-Length smaller than the body cuts the download short and corrupts the kept-alive
   * connection. A row that disagrees (files written before sizes were counted in bytes) is corrected.
   */
  async content(
    tenantId: string,
    id: string,
  ): Promise<{ file: FileEntity; stream: Readable; bytes: number }> {
    const file = await this.find(tenantId, id);
    let stored;
    try {
      stored = await this.storage.get(file.storageKey);
    } catch (err) {
      if (err instanceof StorageNotFoundError) throw fileNotFound(id);
      throw err;
    }
    if (stored.bytes !== file.bytes) {
      this.logger.warn(
        `file ${id}: recorded ${file.bytes} bytes, stored ${stored.bytes}; correcting the record`,
      );
      await this.files.setBytes(id, stored.bytes).catch(() => undefined);
      file.bytes = stored.bytes;
    }
    return { file, stream: stored.body, bytes: stored.bytes };
  }

  /**
   * Stores a file the service itself produced (batch output and error files), streamed from
   * `body`. The row is written only after the bytes are complete. It expires `expiresAfterSeconds`
   * after it is created, or after the default expiry when that is not given.
   */
  async storeGenerated(
    tenantId: string,
    filename: string,
    purpose: FilePurpose,
    body: Readable,
    expiresAfterSeconds: number | undefined,
  ): Promise<FileEntity> {
    const id = newFileId();
    const storageKey = `${tenantId}/${id}`;
    const { bytes } = await this.storage.put(storageKey, body);
    const createdAt = this.clock.now();
    const entity: FileEntity = {
      id,
      tenantId,
      filename,
      purpose,
      bytes,
      storageKey,
      status: 'processed',
      createdAt,
      expiresAt: expiryAt(createdAt, expiresAfterSeconds, this.config.files.defaultExpiryDays),
    };
    try {
      await this.files.insert(entity);
    } catch (err) {
      await this.storage.delete(storageKey).catch(() => undefined);
      throw err;
    }
    return entity;
  }

  /**
   * Removes files whose `expires_after` has passed (rows first, then bytes), except inputs of
   * batches still running. Returns how many were removed. Called periodically by the worker.
   */
  async purgeExpired(limit = 500): Promise<number> {
    const keys = await this.files.deleteExpired(limit);
    for (const key of keys) await this.storage.delete(key).catch(() => undefined);
    return keys.length;
  }

  async delete(tenantId: string, id: string): Promise<{ id: string; object: 'file'; deleted: true }> {
    const file = await this.find(tenantId, id);
    if (await this.files.feedsUnfinishedBatch(id)) {
      throw ApiError.conflict(
        `File ${id} is the input of a batch that is still running; cancel the batch first.`,
        'file_id',
      );
    }
    // Row first: once it is gone no one can reach the bytes, so a failure after it leaves only garbage.
    await this.files.delete(tenantId, id);
    await this.storage.delete(file.storageKey).catch(() => undefined);
    return { id, object: 'file', deleted: true };
  }
}
