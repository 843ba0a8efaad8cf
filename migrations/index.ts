import { InitialSchema1764180000000 } from './1764180000000-initial-schema';
import { WebhookEvents1766000000000 } from './1766000000000-webhook-events';

/** Every migration, in order. Listed explicitly so the app, the CLI and the tests load the same set. */
export const MIGRATIONS = [InitialSchema1764180000000, WebhookEvents1766000000000];
