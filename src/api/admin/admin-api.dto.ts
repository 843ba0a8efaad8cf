import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { TENANT_ID_PATTERN } from '../../domain/tenants/tenant.entity';
import { RefuseUnknownFields } from '../../platform/http/validation';

const TENANT_RULE = 'a tenant id is 1-64 characters of [A-Za-z0-9._-]';

/** A list without pagination (the admin API's lists are short or capped by `limit`). */
export function PlainListDto<T>(item: new () => T) {
  abstract class List {
    @ApiProperty({ enum: ['list'] }) object!: 'list';
    @ApiProperty({ type: [item] }) data!: T[];
  }
  return List;
}

// ---- requests -------------------------------------------------------------------------------

@RefuseUnknownFields()
export class TenantLimitsDto {
  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    description: 'Multiplies the rate limits; null = THROTTLE_TIERS for the tier.',
    example: 2,
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.000001)
  @Max(1_000_000)
  rate_limit_multiplier?: number | null;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    description:
      'Most estimated tokens of unfinished batches per model; 0 = unlimited; null = BATCH_ENQUEUED_TOKEN_LIMIT.',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  enqueued_token_limit?: number | null;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    description: 'Most unfinished batches; 0 = unlimited; null = BATCH_MAX_ACTIVE_PER_TENANT.',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  max_active_batches?: number | null;
}

@RefuseUnknownFields()
export class UpdateTenantDto {
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description: 'A THROTTLE_TIERS name (or "default"); null = the tier API_KEYS gives.',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  tier?: string | null;

  @ApiPropertyOptional({
    type: TenantLimitsDto,
    nullable: true,
    description: 'Fields left out stay as they are; null returns one (or all) to the environment.',
  })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => TenantLimitsDto)
  limits?: TenantLimitsDto | null;
}

@RefuseUnknownFields()
export class CreateTenantDto extends UpdateTenantDto {
  @ApiProperty({ example: 'acme', description: '1-64 characters of [A-Za-z0-9._-], as in API_KEYS.' })
  @IsString()
  @Matches(TENANT_ID_PATTERN, { message: TENANT_RULE })
  id!: string;
}

@RefuseUnknownFields()
export class SetWebhookDto {
  @ApiProperty({
    example: 'https://hooks.example.com/batches',
    description: 'http(s) URL that receives batch events.',
  })
  @IsString()
  @MaxLength(2048)
  url!: string;
}

@RefuseUnknownFields()
export class CreateKeyDto {
  @ApiProperty({ example: 'acme' })
  @IsString()
  @Matches(TENANT_ID_PATTERN, { message: TENANT_RULE })
  tenant!: string;

  @ApiPropertyOptional({ type: String, nullable: true, example: 'nightly jobs' })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  name?: string | null;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    description: 'Unix seconds after which the key stops working.',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  expires_at?: number | null;
}

export class KeysQuery {
  @ApiPropertyOptional({ description: "Only this tenant's keys." })
  @IsOptional()
  @IsString()
  tenant?: string;
}

export class UsageQuery {
  @ApiPropertyOptional({ description: 'Only this tenant; all tenants when absent.' })
  @IsOptional()
  @IsString()
  tenant?: string;

  @ApiPropertyOptional({
    description: 'Unix seconds, inclusive (batches by created_at); default 30 days before `until`.',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  since?: number;

  @ApiPropertyOptional({ description: 'Unix seconds, exclusive; default now.' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  until?: number;

  @ApiPropertyOptional({
    description: 'day (UTC), model, or both (day,model); per tenant only when absent.',
    example: 'day',
  })
  @IsOptional()
  @Matches(/^(day|model)(,(day|model))?$/, { message: 'group_by is day, model or day,model' })
  group_by?: string;
}

export class AuditQuery {
  @ApiPropertyOptional({ description: "Only this tenant's entries." })
  @IsOptional()
  @IsString()
  tenant?: string;

  @ApiPropertyOptional({ description: 'At most this many, newest first (default 100, at most 1000).' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}

// ---- answers --------------------------------------------------------------------------------

export class TenantLimitsObjectDto {
  @ApiProperty({ type: Number, nullable: true }) rate_limit_multiplier!: number | null;
  @ApiProperty({ type: Number, nullable: true }) enqueued_token_limit!: number | null;
  @ApiProperty({ type: Number, nullable: true }) max_active_batches!: number | null;
}

export class TenantWebhookObjectDto {
  @ApiProperty() url!: string;
  @ApiProperty({
    enum: ['database', 'environment'],
    description: 'database: set through this API; environment: the WEBHOOKS entry.',
  })
  source!: 'database' | 'environment';
  @ApiProperty({ type: Number, nullable: true }) secret_rotated_at!: number | null;
  @ApiProperty({ type: Number, nullable: true }) previous_secret_expires_at!: number | null;
}

export class TenantObjectDto {
  @ApiProperty({ enum: ['tenant'] }) object!: 'tenant';
  @ApiProperty() id!: string;
  @ApiProperty({ description: 'The tier in force.' }) tier!: string;
  @ApiProperty({ type: TenantLimitsObjectDto, description: 'null fields: the environment decides.' })
  limits!: TenantLimitsObjectDto;
  @ApiProperty() disabled!: boolean;
  @ApiProperty({ enum: ['database', 'environment'] }) source!: 'database' | 'environment';
  @ApiProperty({ type: Number, nullable: true }) created_at!: number | null;
  @ApiProperty({ type: Number, nullable: true }) updated_at!: number | null;
  @ApiProperty({ type: TenantWebhookObjectDto, nullable: true }) webhook!: TenantWebhookObjectDto | null;
}

export class WebhookEndpointObjectDto {
  @ApiProperty({ enum: ['webhook_endpoint'] }) object!: 'webhook_endpoint';
  @ApiProperty() tenant!: string;
  @ApiProperty() url!: string;
  @ApiProperty({ description: 'whsec_… signing secret (Standard Webhooks). Shown this once; store it now.' })
  secret!: string;
  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'Until when the replaced secret keeps signing too (deliveries carry both signatures).',
  })
  previous_secret_expires_at!: number | null;
}

export class WebhookDeletedDto {
  @ApiProperty({ enum: ['webhook_endpoint.deleted'] }) object!: 'webhook_endpoint.deleted';
  @ApiProperty() tenant!: string;
  @ApiProperty({ description: 'false when the tenant had no webhook.' }) deleted!: boolean;
}

export class TenantListDto extends PlainListDto(TenantObjectDto) {}

export class ApiKeyObjectDto {
  @ApiProperty({ enum: ['api_key'] }) object!: 'api_key';
  @ApiProperty({ example: 'key_AbC123' }) id!: string;
  @ApiProperty() tenant!: string;
  @ApiProperty({ type: String, nullable: true }) name!: string | null;
  @ApiProperty({ example: 'sk-AbC1…', description: "The key's first characters." }) prefix!: string;
  @ApiProperty() created_at!: number;
  @ApiProperty({ type: Number, nullable: true }) last_used_at!: number | null;
  @ApiProperty({ type: Number, nullable: true }) expires_at!: number | null;
  @ApiProperty({ type: Number, nullable: true }) revoked_at!: number | null;
}

export class CreatedApiKeyDto extends ApiKeyObjectDto {
  @ApiProperty({ description: 'The key itself: shown in this answer only, never again.' }) key!: string;
}

export class ApiKeyListDto extends PlainListDto(ApiKeyObjectDto) {}

export class UsageObjectDto {
  @ApiProperty({ enum: ['usage'] }) object!: 'usage';
  @ApiProperty() tenant!: string;
  @ApiPropertyOptional({ example: '2026-01-31' }) day?: string;
  @ApiPropertyOptional({ type: String, nullable: true }) model?: string | null;
  @ApiProperty() batches!: number;
  @ApiProperty() requests_completed!: number;
  @ApiProperty() requests_failed!: number;
  @ApiProperty() input_tokens!: number;
  @ApiProperty() cached_tokens!: number;
  @ApiProperty() output_tokens!: number;
}

export class UsageListDto extends PlainListDto(UsageObjectDto) {}

export class AuditEntryDto {
  @ApiProperty({ enum: ['audit_entry'] }) object!: 'audit_entry';
  @ApiProperty() id!: number;
  @ApiProperty() at!: number;
  @ApiProperty({ description: 'The admin user.' }) actor!: string;
  @ApiProperty({ example: 'key.revoke' }) action!: string;
  @ApiProperty({ description: 'The tenant or key changed.' }) target!: string;
  @ApiProperty({ type: String, nullable: true }) tenant!: string | null;
  @ApiProperty({ type: String, nullable: true }) address!: string | null;
  @ApiProperty({ type: Object }) details!: Record<string, unknown>;
}

export class AuditListDto extends PlainListDto(AuditEntryDto) {}
