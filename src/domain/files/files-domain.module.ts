import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { FileEntity } from './file.entity';
import { FileRepository } from './file.repository';
import { FilesService } from './files.service';

/** Stored files (rows and bytes) for both roles: one FilesService per process. */
@Module({
  imports: [TypeOrmModule.forFeature([FileEntity])],
  providers: [FileRepository, FilesService],
  exports: [FilesService],
})
export class FilesDomainModule {}
