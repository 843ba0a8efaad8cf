import { Module } from '@nestjs/common';
import { DatabaseProbe } from '../database/database-probe';
import { HealthController } from './health.controller';
import { ReadinessService } from './readiness.service';

@Module({ controllers: [HealthController], providers: [DatabaseProbe, ReadinessService] })
export class HealthModule {}
