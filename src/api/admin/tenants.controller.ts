import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put } from '@nestjs/common';
import { ApiBasicAuth, ApiCreatedResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AdminActor } from '../../domain/tenants/admin-actor';
import { TenantAdminService, TenantRecord } from '../../domain/tenants/tenant-admin.service';
import { Public } from '../../platform/http/public.decorator';
import { ApiOkOperation } from '../openapi';
import { Actor } from './admin-actor.decorator';
import {
  CreateTenantDto,
  SetWebhookDto,
  TenantListDto,
  TenantObjectDto,
  UpdateTenantDto,
  WebhookDeletedDto,
  WebhookEndpointObjectDto,
} from './admin-api.dto';
import { list, tenantObject, webhookEndpointObject } from './admin-api.presenters';
import { ADMIN_API_ROUTE } from './admin-routes';

/** Tenants and their settings (which override the environment's defaults for them). */
@ApiTags('admin')
@ApiBasicAuth('admin')
@Public()
@Controller(`${ADMIN_API_ROUTE.slice(1)}/tenants`)
export class TenantsController {
  constructor(private readonly tenants: TenantAdminService) {}

  @Post()
  @ApiOperation({ summary: 'Create a tenant (409 tenant_exists when it exists)' })
  @ApiCreatedResponse({ type: TenantObjectDto })
  async create(@Body() body: CreateTenantDto, @Actor() who: AdminActor): Promise<TenantObjectDto> {
    return this.present(await this.tenants.create(body, who));
  }

  @Get()
  @ApiOkOperation("List tenants: the database's, and those known only from API_KEYS", TenantListDto)
  async list(): Promise<TenantListDto> {
    return list((await this.tenants.list()).map((t) => this.present(t)));
  }

  @Get(':id')
  @ApiOkOperation('Get a tenant (404 tenant_not_found)', TenantObjectDto)
  async get(@Param('id') id: string): Promise<TenantObjectDto> {
    return this.present(await this.tenants.get(id));
  }

  @Patch(':id')
  @ApiOkOperation(
    "Change a tenant's tier or limits (absent fields stay; null = the environment's default)",
    TenantObjectDto,
  )
  async update(
    @Param('id') id: string,
    @Body() body: UpdateTenantDto,
    @Actor() who: AdminActor,
  ): Promise<TenantObjectDto> {
    return this.present(await this.tenants.update(id, body, who));
  }

  @Delete(':id')
  @ApiOkOperation('Disable a tenant: its keys stop working within seconds; its data stays', TenantObjectDto)
  async disable(@Param('id') id: string, @Actor() who: AdminActor): Promise<TenantObjectDto> {
    return this.present(await this.tenants.setDisabled(id, true, who));
  }

  @Post(':id/enable')
  @HttpCode(200)
  @ApiOkOperation('Enable a disabled tenant', TenantObjectDto)
  async enable(@Param('id') id: string, @Actor() who: AdminActor): Promise<TenantObjectDto> {
    return this.present(await this.tenants.setDisabled(id, false, who));
  }

  @Put(':id/webhook')
  @ApiOkOperation(
    "Point the tenant's batch events at a URL with a fresh signing secret, shown once; the replaced secret keeps signing for WEBHOOK_SECRET_ROTATION_GRACE_SECONDS (400 secrets_encryption_key_missing without SECRETS_ENCRYPTION_KEY)",
    WebhookEndpointObjectDto,
  )
  async setWebhook(
    @Param('id') id: string,
    @Body() body: SetWebhookDto,
    @Actor() who: AdminActor,
  ): Promise<WebhookEndpointObjectDto> {
    return webhookEndpointObject(id, await this.tenants.setWebhook(id, body.url, who));
  }

  @Delete(':id/webhook')
  @ApiOkOperation("Stop the tenant's batch events (pending deliveries are dropped)", WebhookDeletedDto)
  async removeWebhook(@Param('id') id: string, @Actor() who: AdminActor): Promise<WebhookDeletedDto> {
    const deleted = await this.tenants.removeWebhook(id, who);
    return { object: 'webhook_endpoint.deleted', tenant: id, deleted };
  }

  private present(t: TenantRecord): TenantObjectDto {
    return tenantObject(t);
  }
}
