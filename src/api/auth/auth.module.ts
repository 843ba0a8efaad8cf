import { Global, Module } from '@nestjs/common';
import { TenantsDomainModule } from '../../domain/tenants/tenants-domain.module';
import { ApiKeyGuard } from './api-key.guard';
import { ApiKeyService } from './api-key.service';

@Global()
@Module({
  imports: [TenantsDomainModule],
  providers: [ApiKeyService, ApiKeyGuard],
  exports: [ApiKeyService, ApiKeyGuard],
})
export class AuthModule {}
