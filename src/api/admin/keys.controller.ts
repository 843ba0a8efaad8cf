import { Body, Controller, Delete, Get, Param, Post, Query } from '@nestjs/common';
import { ApiBasicAuth, ApiCreatedResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AdminActor } from '../../domain/tenants/admin-actor';
import { ApiKeyAdminService } from '../../domain/tenants/api-key-admin.service';
import { Public } from '../../platform/http/public.decorator';
import { ApiOkOperation } from '../openapi';
import { Actor } from './admin-actor.decorator';
import { ApiKeyListDto, ApiKeyObjectDto, CreatedApiKeyDto, CreateKeyDto, KeysQuery } from './admin-api.dto';
import { apiKeyObject, list } from './admin-api.presenters';
import { ADMIN_API_ROUTE } from './admin-routes';

/** API keys kept in the database (as hashes), beside those of API_KEYS. */
@ApiTags('admin')
@ApiBasicAuth('admin')
@Public()
@Controller(`${ADMIN_API_ROUTE.slice(1)}/keys`)
export class KeysController {
  constructor(private readonly keys: ApiKeyAdminService) {}

  @Post()
  @ApiOperation({ summary: 'Create an API key: the answer holds the key, shown this once' })
  @ApiCreatedResponse({ type: CreatedApiKeyDto })
  async create(@Body() body: CreateKeyDto, @Actor() who: AdminActor): Promise<CreatedApiKeyDto> {
    const { row, key } = await this.keys.create(
      {
        tenant: body.tenant,
        name: body.name ?? null,
        expiresAt: body.expires_at == null ? null : new Date(body.expires_at * 1000),
      },
      who,
    );
    return { ...apiKeyObject(row), key };
  }

  @Get()
  @ApiOkOperation('List API keys (never the keys themselves)', ApiKeyListDto)
  async list(@Query() query: KeysQuery): Promise<ApiKeyListDto> {
    return list((await this.keys.list(query.tenant)).map(apiKeyObject));
  }

  @Delete(':id')
  @ApiOkOperation('Revoke an API key: refused by every API replica within seconds', ApiKeyObjectDto)
  async revoke(@Param('id') id: string, @Actor() who: AdminActor): Promise<ApiKeyObjectDto> {
    return apiKeyObject(await this.keys.revoke(id, who));
  }
}
