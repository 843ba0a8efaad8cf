import { Controller, Delete, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { Tenant } from '../auth/tenant.decorator';
import type { TenantContext } from '../auth/auth.types';
import { ApiErrorResponses } from '../../platform/http/api-error.dto';
import { RateLimit } from '../throttling/rate-limit.decorator';
import { DeletedFileDto, FileListDto, FileObjectDto, ListFilesQueryDto, UploadFileFormDto } from './file.dto';
import { FilesService } from '../../domain/files/files.service';
import { receiveUpload } from './multipart-upload';
import { ApiOkOperation } from '../openapi';

@ApiTags('Files')
@ApiBearerAuth()
@ApiErrorResponses()
@Controller('v1/files')
export class FilesController {
  constructor(private readonly files: FilesService) {}

  @Post()
  @RateLimit('file-upload')
  @HttpCode(200)
  @ApiOperation({ summary: 'Upload a file (multipart, streamed to storage)' })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ type: UploadFileFormDto })
  @ApiOkResponse({ type: FileObjectDto })
  async upload(@Tenant() tenant: TenantContext, @Req() req: Request): Promise<FileObjectDto> {
    const file = await this.files.upload(tenant.tenant, (storage, key, limits) =>
      receiveUpload(req, storage, key, limits),
    );
    return FileObjectDto.from(file);
  }

  @Get()
  @RateLimit('reads')
  @ApiOkOperation('List files', FileListDto)
  async list(@Tenant() tenant: TenantContext, @Query() query: ListFilesQueryDto): Promise<FileListDto> {
    const page = await this.files.list(tenant.tenant, query as Record<string, unknown>);
    return { ...page, data: page.data.map(FileObjectDto.from) };
  }

  @Get(':file_id')
  @RateLimit('reads')
  @ApiOkOperation('Retrieve a file', FileObjectDto)
  async retrieve(@Tenant() tenant: TenantContext, @Param('file_id') id: string): Promise<FileObjectDto> {
    return FileObjectDto.from(await this.files.find(tenant.tenant, id));
  }

  @Get(':file_id/content')
  @RateLimit('reads')
  @ApiOperation({ summary: "Download a file's bytes (streamed)" })
  @ApiProduces('application/octet-stream')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' } })
  async content(
    @Tenant() tenant: TenantContext,
    @Param('file_id') id: string,
    @Res() res: Response,
  ): Promise<void> {
    const { file, stream, bytes } = await this.files.content(tenant.tenant, id);
    res.status(200);
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Length', String(bytes));
    res.setHeader('Content-Disposition', `attachment; filename="${file.filename.replace(/[^\w.-]/g, '_')}"`);
    await pipeline(stream, res).catch(() => res.destroy());
  }

  @Delete(':file_id')
  @RateLimit('mutations')
  @ApiOkOperation('Delete a file', DeletedFileDto)
  delete(@Tenant() tenant: TenantContext, @Param('file_id') id: string): Promise<DeletedFileDto> {
    return this.files.delete(tenant.tenant, id);
  }
}
