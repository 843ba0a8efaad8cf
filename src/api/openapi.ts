/** Swagger pieces the API's controllers and DTOs share. */
import { applyDecorators, type Type } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty } from '@nestjs/swagger';

/** An operation documented by its summary and the DTO of its 200 answer. */
export const ApiOkOperation = (summary: string, type: Type<unknown>): MethodDecorator =>
  applyDecorators(ApiOperation({ summary }), ApiOkResponse({ type }));

/** OpenAI's list envelope (cursor pagination) around `item`'s objects: extend it to name the DTO. */
export function ListDto<T>(item: Type<T>) {
  abstract class List {
    @ApiProperty({ enum: ['list'] }) object!: 'list';
    @ApiProperty({ type: [item] }) data!: T[];
    @ApiProperty({ type: String, nullable: true }) first_id!: string | null;
    @ApiProperty({ type: String, nullable: true }) last_id!: string | null;
    @ApiProperty() has_more!: boolean;
  }
  return List;
}
