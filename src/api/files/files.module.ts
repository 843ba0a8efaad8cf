import { Module } from '@nestjs/common';
import { FilesDomainModule } from '../../domain/files/files-domain.module';
import { FilesController } from './files.controller';

/** The HTTP side of files: `/v1/files`. */
@Module({
  imports: [FilesDomainModule],
  controllers: [FilesController],
})
export class FilesModule {}
