import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsObject, IsOptional, IsString, Max, Min, ValidateNested } from 'class-validator';
import { toUnixSeconds } from '../../common/clock';
import { MAX_EXPIRY_SECONDS, MIN_EXPIRY_SECONDS } from '../../domain/files/file-expiry';
import { KNOWN_BATCH_ENDPOINTS } from '../../common/batch-endpoints';
import { ALL_STATUSES } from '../../domain/batches/batch-status';
import { BatchEntity } from '../../domain/batches/batch.entity';
import { ListDto } from '../openapi';

export class OutputExpiresAfterDto {
  @ApiProperty({ enum: ['created_at'] })
  @IsIn(['created_at'])
  anchor!: 'created_at';

  @ApiProperty({ minimum: MIN_EXPIRY_SECONDS, maximum: MAX_EXPIRY_SECONDS })
  @IsInt()
  @Min(MIN_EXPIRY_SECONDS)
  @Max(MAX_EXPIRY_SECONDS)
  seconds!: number;
}

export class CreateBatchDto {
  @ApiProperty({ example: 'file-abc123' })
  @IsString()
  input_file_id!: string;

  @ApiProperty({
    enum: KNOWN_BATCH_ENDPOINTS,
    description:
      "The endpoint every line targets (each line's `url` must equal it). The deployment offers the ones " +
      'listed in BATCH_ENDPOINTS (by default all of these). `/v1/score` (`text_1`, `text_2`) and ' +
      "`/v1/rerank` (`query`, `documents`, `top_n`) are our extension: vLLM's scoring endpoints for " +
      "pooling models; their output lines carry vLLM's ScoreResponse / RerankResponse. OpenAI's " +
      '`/v1/moderations`, `/v1/images/generations`, `/v1/images/edits` and `/v1/videos` are refused ' +
      '(400 `invalid_value`): vLLM does not serve them.',
  })
  @IsString()
  endpoint!: string;

  @ApiProperty({ example: '24h', description: "'24h', or another window from BATCH_COMPLETION_WINDOWS" })
  @IsString()
  completion_window!: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' }, nullable: true })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown> | null;

  @ApiPropertyOptional({ type: OutputExpiresAfterDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => OutputExpiresAfterDto)
  output_expires_after?: OutputExpiresAfterDto;
}

export class ListBatchesQueryDto {
  @ApiPropertyOptional({ description: 'A batch id: list the batches after it' })
  @IsOptional()
  @IsString()
  after?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 }) @IsOptional() @IsString() limit?: string;
}

class BatchErrorDto {
  @ApiProperty() code!: string;
  @ApiProperty() message!: string;
  @ApiProperty({ type: String, nullable: true }) param!: string | null;
  @ApiProperty({ type: Number, nullable: true }) line!: number | null;
}

class BatchErrorsDto {
  @ApiProperty({ enum: ['list'] }) object!: 'list';
  @ApiProperty({ type: [BatchErrorDto] }) data!: BatchErrorDto[];
}

class RequestCountsDto {
  @ApiProperty() total!: number;
  @ApiProperty() completed!: number;
  @ApiProperty() failed!: number;
}

class InputTokensDetailsDto {
  @ApiProperty() cached_tokens!: number;
}

class OutputTokensDetailsDto {
  @ApiProperty() reasoning_tokens!: number;
}

class BatchUsageDto {
  @ApiProperty() input_tokens!: number;
  @ApiProperty({ type: InputTokensDetailsDto }) input_tokens_details!: InputTokensDetailsDto;
  @ApiProperty() output_tokens!: number;
  @ApiProperty({ type: OutputTokensDetailsDto }) output_tokens_details!: OutputTokensDetailsDto;
  @ApiProperty() total_tokens!: number;
}

/** OpenAI's `Batch` object; unset fields are present as null, as in OpenAI's own responses. */
export class BatchObjectDto {
  @ApiProperty({ example: 'batch_abc123' }) id!: string;
  @ApiProperty({ enum: ['batch'] }) object!: 'batch';
  @ApiProperty() endpoint!: string;
  @ApiProperty({ type: String, nullable: true }) model!: string | null;
  @ApiProperty({ type: BatchErrorsDto, nullable: true }) errors!: BatchErrorsDto | null;
  @ApiProperty() input_file_id!: string;
  @ApiProperty() completion_window!: string;
  @ApiProperty({ enum: ALL_STATUSES }) status!: string;
  @ApiProperty({ type: String, nullable: true }) output_file_id!: string | null;
  @ApiProperty({ type: String, nullable: true }) error_file_id!: string | null;
  @ApiProperty() created_at!: number;
  @ApiProperty({ type: Number, nullable: true }) in_progress_at!: number | null;
  @ApiProperty({ type: Number, nullable: true }) expires_at!: number | null;
  @ApiProperty({ type: Number, nullable: true }) finalizing_at!: number | null;
  @ApiProperty({ type: Number, nullable: true }) completed_at!: number | null;
  @ApiProperty({ type: Number, nullable: true }) failed_at!: number | null;
  @ApiProperty({ type: Number, nullable: true }) expired_at!: number | null;
  @ApiProperty({ type: Number, nullable: true }) cancelling_at!: number | null;
  @ApiProperty({ type: Number, nullable: true }) cancelled_at!: number | null;
  @ApiProperty({ type: RequestCountsDto }) request_counts!: RequestCountsDto;
  @ApiProperty({ type: BatchUsageDto }) usage!: BatchUsageDto;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, nullable: true })
  metadata!: Record<string, string> | null;

  static from(b: BatchEntity): BatchObjectDto {
    return {
      id: b.id,
      object: 'batch',
      endpoint: b.endpoint,
      model: b.model,
      errors: b.errors && b.errors.length ? { object: 'list', data: b.errors } : null,
      input_file_id: b.inputFileId,
      completion_window: b.completionWindow,
      status: b.status,
      output_file_id: b.outputFileId,
      error_file_id: b.errorFileId,
      created_at: toUnixSeconds(b.createdAt) as number,
      in_progress_at: toUnixSeconds(b.inProgressAt),
      expires_at: toUnixSeconds(b.expiresAt),
      finalizing_at: toUnixSeconds(b.finalizingAt),
      completed_at: toUnixSeconds(b.completedAt),
      failed_at: toUnixSeconds(b.failedAt),
      expired_at: toUnixSeconds(b.expiredAt),
      cancelling_at: toUnixSeconds(b.cancellingAt),
      cancelled_at: toUnixSeconds(b.cancelledAt),
      request_counts: {
        total: Number(b.totalRequests),
        completed: Number(b.completedRequests),
        failed: Number(b.failedRequests),
      },
      // Number(): bigint columns come back from an INSERT's RETURNING as strings, untransformed.
      usage: {
        input_tokens: Number(b.inputTokens),
        input_tokens_details: { cached_tokens: Number(b.cachedTokens) },
        output_tokens: Number(b.outputTokens),
        output_tokens_details: { reasoning_tokens: Number(b.reasoningTokens) },
        total_tokens: Number(b.inputTokens) + Number(b.outputTokens),
      },
      metadata: b.metadata,
    };
  }
}

export class BatchListDto extends ListDto(BatchObjectDto) {}
