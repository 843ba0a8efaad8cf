import { Injectable } from '@nestjs/common';

/** The clock as an adapter, so expiry and timestamps can be driven by tests. */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }

  /** Unix seconds, the unit OpenAI's objects use. */
  nowSeconds(): number {
    return Math.floor(Date.now() / 1000);
  }
}

export const toUnixSeconds = (d: Date | null | undefined): number | null =>
  d ? Math.floor(d.getTime() / 1000) : null;
