import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { CatalogueModel } from '../../domain/models/model-catalogue.repository';

/** OpenAI's `Model` object, plus vLLM's `max_model_len` when an endpoint reported it. */
export class ModelObjectDto {
  @ApiProperty({ example: 'meta-llama/Llama-3.1-8B-Instruct' }) id!: string;
  @ApiProperty({ enum: ['model'] }) object!: 'model';
  @ApiProperty({ description: 'Unix seconds when an endpoint was first seen serving it' }) created!: number;
  @ApiProperty({ example: 'vllm' }) owned_by!: string;
  @ApiPropertyOptional({
    description:
      "Context length (tokens) of the endpoints serving it (the smallest, if they differ); vLLM's field",
  })
  max_model_len?: number;

  static from(m: CatalogueModel): ModelObjectDto {
    return {
      id: m.id,
      object: 'model',
      created: m.created,
      owned_by: m.owned_by,
      ...(m.max_model_len === null ? {} : { max_model_len: m.max_model_len }),
    };
  }
}

/** OpenAI's `ListModelsResponse`: every model, no pagination. */
export class ModelListDto {
  @ApiProperty({ enum: ['list'] }) object!: 'list';
  @ApiProperty({ type: [ModelObjectDto] }) data!: ModelObjectDto[];
}
