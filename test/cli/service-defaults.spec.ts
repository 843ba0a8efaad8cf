import { SERVICE_DEFAULTS } from '../../src/cli/validate';
import { loadConfig } from '../../src/platform/config/app-config';

/** The CLI's local check applies the service's default limits; this keeps the two from drifting. */
it("the CLI's validation defaults are the service's (BATCH_MAX_LINES, _MAX_ERRORS_REPORTED, _DEFAULT_MAX_TOKENS)", () => {
  const { maxLines, maxErrorsReported, defaultMaxTokens } = loadConfig({}).batches;
  expect(SERVICE_DEFAULTS).toEqual({ maxLines, maxErrors: maxErrorsReported, defaultMaxTokens });
});
