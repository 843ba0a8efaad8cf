import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString } from 'class-validator';
import { toUnixSeconds } from '../../common/clock';
import { MAX_EXPIRY_SECONDS, MIN_EXPIRY_SECONDS } from '../../domain/files/file-expiry';
import {
  FILE_PURPOSES,
  FileEntity,
  OPENAI_FILE_PURPOSES,
  UPLOADABLE_PURPOSES,
} from '../../domain/files/file.entity';
import { ListDto } from '../openapi';

/** OpenAI's `OpenAIFile` object. */
export class FileObjectDto {
  @ApiProperty({ example: 'file-abc123' }) id!: string;
  @ApiProperty({ enum: ['file'] }) object!: 'file';
  @ApiProperty({ description: 'Size in bytes' }) bytes!: number;
  @ApiProperty({ description: 'Unix seconds' }) created_at!: number;
  @ApiProperty({ type: Number, nullable: true, description: 'Unix seconds' }) expires_at!: number | null;
  @ApiProperty() filename!: string;
  @ApiProperty({ enum: FILE_PURPOSES }) purpose!: string;
  @ApiProperty({ enum: ['uploaded', 'processed', 'error'] }) status!: string;
  @ApiPropertyOptional({ type: String, nullable: true }) status_details!: string | null;

  static from(f: FileEntity): FileObjectDto {
    return {
      id: f.id,
      object: 'file',
      bytes: f.bytes,
      created_at: toUnixSeconds(f.createdAt) as number,
      expires_at: toUnixSeconds(f.expiresAt),
      filename: f.filename,
      purpose: f.purpose,
      status: f.status,
      status_details: null,
    };
  }
}

export class FileListDto extends ListDto(FileObjectDto) {}

export class DeletedFileDto {
  @ApiProperty() id!: string;
  @ApiProperty({ enum: ['file'] }) object!: 'file';
  @ApiProperty() deleted!: boolean;
}

/** The multipart form, described for Swagger UI (parsing is done by a streaming parser, not a DTO). */
export class UploadFileFormDto {
  @ApiProperty({ type: 'string', format: 'binary' }) file!: unknown;
  @ApiProperty({ enum: UPLOADABLE_PURPOSES })
  purpose!: string;
  @ApiPropertyOptional({ name: 'expires_after[anchor]', enum: ['created_at'] }) expires_after_anchor?: string;
  @ApiPropertyOptional({
    name: 'expires_after[seconds]',
    minimum: MIN_EXPIRY_SECONDS,
    maximum: MAX_EXPIRY_SECONDS,
  })
  expires_after_seconds?: number;
}

/** Values are checked by the service, which words its errors the way OpenAI does. */
export class ListFilesQueryDto {
  @ApiPropertyOptional({ enum: OPENAI_FILE_PURPOSES }) @IsOptional() @IsString() purpose?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 10000, default: 10000 })
  @IsOptional()
  @IsString()
  limit?: string;
  @ApiPropertyOptional({ enum: ['asc', 'desc'], default: 'desc' }) @IsOptional() @IsString() order?: string;
  @ApiPropertyOptional({ description: 'A file id: list the files after it' })
  @IsOptional()
  @IsString()
  after?: string;
}
