import { Module } from '@nestjs/common';
import { ModelCatalogueRepository } from './model-catalogue.repository';

/** The model catalogue, in every role: workers record what endpoints serve, the API reads it. */
@Module({
  providers: [ModelCatalogueRepository],
  exports: [ModelCatalogueRepository],
})
export class ModelsDomainModule {}
