import { Controller, Get, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiExcludeEndpoint, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponses } from '../../platform/http/api-error.dto';
import { ApiOkOperation } from '../openapi';
import { RateLimit } from '../throttling/rate-limit.decorator';
import { ModelListDto, ModelObjectDto } from './model.dto';
import { ModelsService } from './models.service';

/**
 * `/v1/models`: the models served now, for every tenant alike. Model ids often hold a slash
 * (`meta-llama/Llama-3.1-8B-Instruct`): the official SDKs send it encoded (`%2F`, one path
 * segment) and curl users send it raw, so a second, undocumented route takes the rest of the path.
 */
@ApiTags('Models')
@ApiBearerAuth()
@ApiErrorResponses()
@Controller('v1/models')
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @Get()
  @RateLimit('reads')
  @ApiOkOperation('List the models served now', ModelListDto)
  list(): Promise<ModelListDto> {
    return this.models.list();
  }

  @Get(':model')
  @RateLimit('reads')
  @ApiOkOperation('Retrieve a model served now (404 model_not_found otherwise)', ModelObjectDto)
  @ApiParam({ name: 'model', description: 'The model id; a slash in it may be sent as is or as %2F' })
  retrieve(@Param('model') model: string): Promise<ModelObjectDto> {
    return this.models.retrieve(model);
  }

  /** The same, for an id whose slashes arrive unencoded (Express hands over its segments). */
  @Get('*model')
  @RateLimit('reads')
  @ApiExcludeEndpoint()
  retrieveWithSlashes(@Param('model') segments: string[] | string): Promise<ModelObjectDto> {
    return this.models.retrieve(Array.isArray(segments) ? segments.join('/') : segments);
  }
}
