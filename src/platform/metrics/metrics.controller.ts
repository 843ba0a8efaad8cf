import { Controller, Get, Res, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { PrometheusController } from '@willsoto/nestjs-prometheus';
import type { Response } from 'express';
import { Public } from '../http/public.decorator';
import { MetricsService } from './metrics.service';
import { MetricsTokenGuard } from './metrics-token.guard';

export const METRICS_PATH = 'metrics';

/**
 * Serves this application's own registry instead of prom-client's global one (see metrics.ts).
 * Public (no API key) and never rate limited (it carries no @RateLimit): a Prometheus scraping many
 * pods must never see a 429. That is affordable because a scrape only renders memory, at most once
 * a second (MetricsService.render).
 */
@ApiExcludeController()
@Public()
@UseGuards(MetricsTokenGuard)
@Controller(METRICS_PATH)
export class MetricsController extends PrometheusController {
  constructor(private readonly metrics: MetricsService) {
    super();
  }

  @Get()
  override async index(@Res({ passthrough: true }) response: Response): Promise<string> {
    response.header('Content-Type', this.metrics.registry.contentType);
    return this.metrics.render();
  }
}
