#!/usr/bin/env node
/**
 * The `vllm-batch` command (package.json `bin`): `npx vllm-batch …` in a checkout after
 * `npm run build`, `vllm-batch …` in the image.
 */
import { CliIo } from './context';
import { runCli } from './program';

const io: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  onInterrupt(handler) {
    process.once('SIGINT', handler);
    return () => process.removeListener('SIGINT', handler);
  },
};

void runCli(process.argv.slice(2), io).then((code) => {
  process.exitCode = code;
});
