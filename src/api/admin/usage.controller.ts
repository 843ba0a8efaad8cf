import { Controller, Get, Query } from '@nestjs/common';
import { ApiBasicAuth, ApiTags } from '@nestjs/swagger';
import { ApiError } from '../../common/api-error';
import { BatchUsageRepository, UsageGrouping } from '../../domain/batches/batch-usage.repository';
import { AdminAuditRepository } from '../../domain/tenants/admin-audit.repository';
import { Public } from '../../platform/http/public.decorator';
import { ApiOkOperation } from '../openapi';
import { AuditListDto, AuditQuery, UsageListDto, UsageQuery } from './admin-api.dto';
import { auditEntry, list } from './admin-api.presenters';
import { ADMIN_API_ROUTE } from './admin-routes';

const DAY_MS = 86_400_000;
const DEFAULT_USAGE_DAYS = 30;
const DEFAULT_AUDIT_LIMIT = 100;

/** What tenants used (from batch totals) and what admins changed (the audit trail). */
@ApiTags('admin')
@ApiBasicAuth('admin')
@Public()
@Controller(ADMIN_API_ROUTE.slice(1))
export class UsageController {
  constructor(
    private readonly usage: BatchUsageRepository,
    private readonly audit: AdminAuditRepository,
  ) {}

  @Get('usage')
  @ApiOkOperation(
    'Usage per tenant (and day or model) from per-batch totals, by batch created_at',
    UsageListDto,
  )
  async getUsage(@Query() q: UsageQuery): Promise<UsageListDto> {
    // Now to the millisecond, so a batch made this second counts.
    const untilMs = q.until === undefined ? Date.now() : q.until * 1000;
    const sinceMs = q.since === undefined ? untilMs - DEFAULT_USAGE_DAYS * DAY_MS : q.since * 1000;
    if (sinceMs >= untilMs)
      throw ApiError.badRequest("Invalid 'since': it must be before 'until'.", 'since', 'invalid_value');
    const rows = await this.usage.usage({
      tenant: q.tenant,
      since: new Date(sinceMs),
      until: new Date(untilMs),
      groupBy: (q.group_by?.split(',') ?? []) as UsageGrouping[],
    });
    return list(rows.map((r) => ({ object: 'usage' as const, ...r })));
  }

  @Get('audit')
  @ApiOkOperation('The audit trail, newest first', AuditListDto)
  async getAudit(@Query() q: AuditQuery): Promise<AuditListDto> {
    return list((await this.audit.list(q.tenant, q.limit ?? DEFAULT_AUDIT_LIMIT)).map(auditEntry));
  }
}
