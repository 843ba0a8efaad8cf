import type { NextFunction, Request, RequestHandler, Response } from 'express';

/** Bull Board's page template links this stylesheet (IBM Plex from Google Fonts). */
const REMOTE_FONTS = /<link\b[^>]*\bhref="https:\/\/fonts\.googleapis\.com\/[^"]*"[^>]*>\s*/g;

type RenderCallback = (err: Error | null, html?: string) => void;

/**
 * Serves the board's page without its link to Google Fonts. With it, every operator who opens the
 * board tells Google so, and in a closed network (an air-gapped cluster, a port-forward from a
 * locked-down host) the stylesheet request fails with an error in the console. The board's CSS
 * names system fonts after IBM Plex, so the page looks the same apart from the typeface.
 */
export function boardPageWithoutRemoteFonts(): RequestHandler {
  return (_req: Request, res: Response, next: NextFunction): void => {
    const render = res.render.bind(res) as (view: string, options: object, callback: RenderCallback) => void;
    res.render = ((view: string, options?: object | RenderCallback, callback?: RenderCallback): void => {
      const done = typeof options === 'function' ? options : callback;
      render(view, typeof options === 'object' ? options : {}, (err, html) => {
        const page = html?.replace(REMOTE_FONTS, '');
        if (done) return done(err, page);
        if (err) return next(err);
        res.send(page);
      });
    }) as Response['render'];
    next();
  };
}
