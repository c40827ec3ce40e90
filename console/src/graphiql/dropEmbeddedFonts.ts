/**
 * A PostCSS plugin for the build: drops `@font-face` rules whose fonts are embedded as data: URLs.
 * GraphiQL's stylesheet carries 34 of them (Roboto, Fira Code: about 270 kB of the gzipped CSS);
 * the pages' policy (`font-src 'self'`) refuses them anyway, with one console error each, and the
 * pages use the system's fonts instead.
 */

type FontFaceRule = { toString(): string; remove(): void };

export const dropEmbeddedFonts = {
  postcssPlugin: "drop-embedded-fonts",
  AtRule: {
    "font-face": (rule: FontFaceRule) => {
      if (/url\(\s*["']?data:/.test(rule.toString())) rule.remove();
    },
  },
};
