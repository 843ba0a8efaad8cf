import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '../http/public.decorator';
import { Readiness, ReadinessService } from './readiness.service';

const READY_EXAMPLE = { status: 'ok', postgres: 'up', redis: 'up', storage: 'up' };

@ApiTags('Health')
@Public()
@Controller()
export class HealthController {
  constructor(private readonly readiness: ReadinessService) {}

  @Get('health')
  @ApiOperation({ summary: 'Liveness: the process is up (checks no dependency)' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({
    summary:
      'Readiness: the state of PostgreSQL, Redis and storage; 503 only when one in READY_REQUIRES has been down for READY_FAIL_AFTER_SECONDS',
  })
  @ApiOkResponse({ schema: { example: READY_EXAMPLE } })
  @ApiServiceUnavailableResponse({
    schema: { example: { ...READY_EXAMPLE, status: 'error', postgres: 'down' } },
  })
  async ready(@Res({ passthrough: true }) res: Response): Promise<Readiness> {
    const readiness = await this.readiness.check();
    res.status(readiness.status === 'error' ? 503 : 200);
    return readiness;
  }
}
