import { redactText } from '../../../platform/logging/log-redaction';
import { endpointCount, UpstreamSource, UpstreamSpec } from './upstream-spec';

/** VLLM_ENDPOINTS or VLLM_BASE_URL: a list fixed for the life of the process. */
export class StaticUpstreamSource implements UpstreamSource {
  constructor(
    readonly kind: 'list' | 'single',
    private readonly specs: readonly UpstreamSpec[],
  ) {}

  async start(onChange: (specs: UpstreamSpec[]) => void): Promise<void> {
    onChange(this.specs.map((s) => ({ ...s })));
  }

  async stop(): Promise<void> {}

  describe(): string {
    if (this.kind === 'single') return `VLLM_BASE_URL ${redactText(this.specs[0].url)}`;
    return `VLLM_ENDPOINTS ${this.specs.map((s) => s.url).join(', ')} (${endpointCount(this.specs.length)})`;
  }
}
