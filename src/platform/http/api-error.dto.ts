import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiResponse } from '@nestjs/swagger';

class ApiErrorBodyDto {
  @ApiProperty() message!: string;
  @ApiProperty() type!: string;
  @ApiProperty({ type: String, nullable: true }) param!: string | null;
  @ApiProperty({ type: String, nullable: true }) code!: string | null;
}

export class ApiErrorEnvelopeDto {
  @ApiProperty({ type: ApiErrorBodyDto }) error!: ApiErrorBodyDto;
}

/** Documents the error envelope on the statuses every authenticated endpoint can answer. */
export const ApiErrorResponses = (): ClassDecorator & MethodDecorator =>
  applyDecorators(
    ApiResponse({ status: 400, description: 'Invalid request', type: ApiErrorEnvelopeDto }),
    ApiResponse({ status: 401, description: 'Missing or invalid API key', type: ApiErrorEnvelopeDto }),
    ApiResponse({
      status: 404,
      description: 'Not found (or owned by another tenant)',
      type: ApiErrorEnvelopeDto,
    }),
    ApiResponse({ status: 429, description: 'Rate limit exceeded', type: ApiErrorEnvelopeDto }),
  );
