import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { TenantContext } from '../auth/auth.types';
import { Tenant } from '../auth/tenant.decorator';
import { ApiErrorEnvelopeDto, ApiErrorResponses } from '../../platform/http/api-error.dto';
import { RateLimit } from '../throttling/rate-limit.decorator';
import { BatchListDto, BatchObjectDto, CreateBatchDto, ListBatchesQueryDto } from './batch.dto';
import { BatchesService } from './batches.service';
import { ApiOkOperation } from '../openapi';

@ApiTags('Batches')
@ApiBearerAuth()
@ApiErrorResponses()
@Controller('v1/batches')
export class BatchesController {
  constructor(private readonly batches: BatchesService) {}

  @Post()
  @RateLimit('batch-create')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Create a batch from an uploaded .jsonl file',
    description:
      'The batch starts `validating`. When its estimated tokens (UTF-8 bytes of input text ÷ 4, plus each ' +
      "line's max_tokens or BATCH_DEFAULT_MAX_TOKENS) would take the tenant's unfinished batches for that model " +
      'over BATCH_ENQUEUED_TOKEN_LIMIT, it fails validation with errors.data[0].code = token_limit_exceeded. ' +
      "When the tenant has a webhook (WEBHOOKS), the batch's final status is POSTed to it as one event, " +
      "`batch.completed`, `batch.failed`, `batch.cancelled` or `batch.expired`, in OpenAI's shape " +
      '`{"id": "evt_…", "type", "created_at", "data": {"id": "batch_…"}, "object": "event"}`, signed per ' +
      "Standard Webhooks (verify with the SDK's `client.webhooks.unwrap(body, headers, secret)`).",
  })
  @ApiOkResponse({ type: BatchObjectDto })
  @ApiResponse({
    status: 429,
    description:
      'rate_limit_exceeded (with Retry-After), or active_batch_limit_reached when the tenant already has ' +
      'BATCH_MAX_ACTIVE_PER_TENANT unfinished batches',
    type: ApiErrorEnvelopeDto,
  })
  create(@Tenant() tenant: TenantContext, @Body() dto: CreateBatchDto): Promise<BatchObjectDto> {
    return this.batches.create(tenant.tenant, dto);
  }

  @Get()
  @RateLimit('reads')
  @ApiOkOperation('List batches, newest first', BatchListDto)
  list(@Tenant() tenant: TenantContext, @Query() query: ListBatchesQueryDto): Promise<BatchListDto> {
    return this.batches.list(tenant.tenant, query);
  }

  @Get(':batch_id')
  @RateLimit('reads')
  @ApiOkOperation('Retrieve a batch', BatchObjectDto)
  retrieve(@Tenant() tenant: TenantContext, @Param('batch_id') id: string): Promise<BatchObjectDto> {
    return this.batches.retrieve(tenant.tenant, id);
  }

  @Post(':batch_id/cancel')
  @RateLimit('mutations')
  @HttpCode(200)
  @ApiOkOperation('Cancel a batch (409 when it already finished)', BatchObjectDto)
  cancel(@Tenant() tenant: TenantContext, @Param('batch_id') id: string): Promise<BatchObjectDto> {
    return this.batches.cancel(tenant.tenant, id);
  }
}
