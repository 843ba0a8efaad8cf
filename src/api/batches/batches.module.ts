import { Module } from '@nestjs/common';
import { BatchesDomainModule } from '../../domain/batches/batches-domain.module';
import { FilesDomainModule } from '../../domain/files/files-domain.module';
import { BatchesController } from './batches.controller';
import { BatchesService } from './batches.service';

/** The HTTP side of batches: `/v1/batches`. */
@Module({
  imports: [BatchesDomainModule, FilesDomainModule],
  controllers: [BatchesController],
  providers: [BatchesService],
})
export class BatchesModule {}
