import { Inject, Injectable } from '@nestjs/common';
import { ApiError } from '../../common/api-error';
import { ModelCatalogueRepository } from '../../domain/models/model-catalogue.repository';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { ModelListDto, ModelObjectDto } from './model.dto';

/** The models a batch can use now, from the catalogue the workers keep (no upstream is asked). */
@Injectable()
export class ModelsService {
  constructor(
    private readonly catalogue: ModelCatalogueRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async list(): Promise<ModelListDto> {
    const models = await this.catalogue.servedNow(this.config.models.freshMs);
    return { object: 'list', data: models.map(ModelObjectDto.from) };
  }

  /** Served now, as in the list; any other id (unknown, or no longer served) is OpenAI's 404. */
  async retrieve(id: string): Promise<ModelObjectDto> {
    const model = await this.catalogue.find(id, this.config.models.freshMs);
    if (!model || model.endpoints.length === 0) throw modelNotFound(id);
    return ModelObjectDto.from(model);
  }
}

export const modelNotFound = (id: string): ApiError =>
  new ApiError(
    404,
    `The model '${[...id].slice(0, 256).join('')}' does not exist or is not served now.`,
    'invalid_request_error',
    'model_not_found',
    'model',
  );
