import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { UNFINISHED_IN } from '../batches/batch.repository';
import { FileEntity } from './file.entity';

/** What a page of a tenant's files is asked for. */
export interface FileListQuery {
  order: 'asc' | 'desc';
  purpose: string | null;
  /** List the files after this one (in `order`). */
  after: Pick<FileEntity, 'createdAt' | 'id'> | null;
  limit: number;
}

/** Every statement on file rows. */
@Injectable()
export class FileRepository {
  constructor(@InjectRepository(FileEntity) private readonly files: Repository<FileEntity>) {}

  async insert(file: FileEntity): Promise<void> {
    await this.files.insert(file);
  }

  findForTenant(tenantId: string, id: string): Promise<FileEntity | null> {
    return this.files.findOneBy({ id, tenantId });
  }

  /** A page of the tenant's unexpired files, by creation time then id. */
  list(tenantId: string, q: FileListQuery): Promise<FileEntity[]> {
    const qb = this.files
      .createQueryBuilder('f')
      .where('f.tenant_id = :tenantId', { tenantId })
      .andWhere('(f.expires_at IS NULL OR f.expires_at > now())');
    if (q.purpose !== null) qb.andWhere('f.purpose = :purpose', { purpose: q.purpose });
    if (q.after) {
      const cmp = q.order === 'desc' ? '<' : '>';
      qb.andWhere(`(f.created_at, f.id) ${cmp} (:createdAt, :id)`, {
        createdAt: q.after.createdAt,
        id: q.after.id,
      });
    }
    const dir = q.order === 'desc' ? 'DESC' : 'ASC';
    return qb.orderBy('f.created_at', dir).addOrderBy('f.id', dir).limit(q.limit).getMany();
  }

  async setBytes(id: string, bytes: number): Promise<void> {
    await this.files.update({ id }, { bytes });
  }

  /** Whether the file is the input of a batch that has not finished. */
  async feedsUnfinishedBatch(id: string): Promise<boolean> {
    const rows: { count: string }[] = await this.files.query(
      `SELECT count(*) AS count FROM batches WHERE input_file_id = $1 AND status IN ${UNFINISHED_IN}`,
      [id],
    );
    return Number(rows[0].count) > 0;
  }

  /**
   * Deletes up to `limit` rows of files whose expiry has passed, except inputs of unfinished
   * batches; returns the storage keys of the rows deleted.
   */
  async deleteExpired(limit: number): Promise<string[]> {
    const result: unknown[] = await this.files.query(
      `DELETE FROM files WHERE id IN (
         SELECT f.id FROM files f
          WHERE f.expires_at IS NOT NULL AND f.expires_at <= now()
            AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.input_file_id = f.id
                              AND b.status IN ${UNFINISHED_IN})
          LIMIT $1)
       RETURNING id, storage_key`,
      [limit],
    );
    // TypeORM answers a DELETE … RETURNING with [rows, rowCount].
    const deleted = (Array.isArray(result[0]) ? result[0] : result) as { id: string; storage_key: string }[];
    return deleted.map((r) => r.storage_key);
  }

  async delete(tenantId: string, id: string): Promise<void> {
    await this.files.delete({ id, tenantId });
  }
}
