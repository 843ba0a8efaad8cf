import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import type { Response } from 'express';
import { Public } from '../auth/public.decorator';
import { Readiness, ReadinessService } from './readiness.service';

const READY_EXAMPLE = { status: 'ok', postgres: 'up', redis: 'up', storage: 'up' };

@ApiTags('Health')
@Public()
@SkipThrottle()
@Controller()
export class HealthController {
  constructor(private readonly readiness: ReadinessService) {}

  @Get('health')
  @ApiOperation({ summary: 'Liveness: the process is up (checks no dependency)' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: PostgreSQL, Redis and storage answer' })
  @ApiOkResponse({ schema: { example: READY_EXAMPLE } })
  @ApiServiceUnavailableResponse({
    schema: { example: { ...READY_EXAMPLE, status: 'error', redis: 'down' } },
  })
  async ready(@Res({ passthrough: true }) res: Response): Promise<Readiness> {
    const readiness = await this.readiness.check();
    res.status(readiness.status === 'ok' ? 200 : 503);
    return readiness;
  }
}
