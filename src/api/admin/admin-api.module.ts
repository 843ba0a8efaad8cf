import { INestApplication, Module } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { BatchesDomainModule } from '../../domain/batches/batches-domain.module';
import { TenantsDomainModule } from '../../domain/tenants/tenants-domain.module';
import { WebhooksDomainModule } from '../../domain/webhooks/webhooks-domain.module';
import { ADMIN_DOCS_ROUTE } from './admin-routes';
import { KeysController } from './keys.controller';
import { TenantsController } from './tenants.controller';
import { UsageController } from './usage.controller';

/** The admin REST API's controllers; served on the admin port only (see AdminServer). */
@Module({
  imports: [TenantsDomainModule, BatchesDomainModule, WebhooksDomainModule],
  controllers: [TenantsController, KeysController, UsageController],
})
export class AdminApiModule {}

/** Swagger UI for the admin API at /admin/docs, reached through the admin port (same origin, so "Try it out" works). */
export function setupAdminSwagger(app: INestApplication): void {
  const doc = new DocumentBuilder()
    .setTitle('vLLM Batch admin API')
    .setDescription(
      'Tenants, API keys, usage and the audit trail, on the admin port behind HTTP Basic auth ' +
        '(ADMIN_USER/ADMIN_PASSWORD or ADMIN_USERS). Every change is written to the audit trail.',
    )
    .setVersion('0.1.0')
    .addBasicAuth({ type: 'http', scheme: 'basic', description: 'An admin user' }, 'admin')
    .addTag('admin')
    .build();
  const document = SwaggerModule.createDocument(app, doc, { include: [AdminApiModule] });
  SwaggerModule.setup(ADMIN_DOCS_ROUTE.slice(1), app, document, {
    jsonDocumentUrl: `${ADMIN_DOCS_ROUTE.slice(1)}-json`,
  });
}
