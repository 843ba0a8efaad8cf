import { Module } from '@nestjs/common';
import { ModelsDomainModule } from '../../domain/models/models-domain.module';
import { ModelsController } from './models.controller';
import { ModelsService } from './models.service';

/** The HTTP side of the model catalogue: `/v1/models`. */
@Module({
  imports: [ModelsDomainModule],
  controllers: [ModelsController],
  providers: [ModelsService],
})
export class ModelsModule {}
