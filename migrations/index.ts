import { InitialSchema1764180000000 } from './1764180000000-initial-schema';
import { EnqueuedTokens1764190000000 } from './1764190000000-enqueued-tokens';
import { WebhookEvents1766000000000 } from './1766000000000-webhook-events';
import { ServedModels1767000000000 } from './1767000000000-served-models';
import { TenantsAndKeys1768000000000 } from './1768000000000-tenants-and-keys';
import { TenantWebhooks1768100000000 } from './1768100000000-tenant-webhooks';
import { LineRowsCleared1768300000000 } from './1768300000000-line-rows-cleared';

/** Every migration, in order. Listed explicitly so the app, the CLI and the tests load the same set. */
export const MIGRATIONS = [
  InitialSchema1764180000000,
  EnqueuedTokens1764190000000,
  WebhookEvents1766000000000,
  ServedModels1767000000000,
  TenantsAndKeys1768000000000,
  TenantWebhooks1768100000000,
  LineRowsCleared1768300000000,
];
